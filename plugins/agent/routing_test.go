package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// routingConfig: two queues with different skills and languages, three agents
// with different skills, languages and capacities (5 + 5 + 3 = 13 seats for
// 20 visitors).
func routingConfig() *config.Config {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Queues = []config.Queue{
		{Name: "sales", Skills: []string{"sales"}},
		{Name: "tech", Skills: []string{"tech"}, Language: "de"},
	}
	cfg.Deployments = []config.Deployment{{Key: "shop", Mode: config.ModeLive, Queue: "sales", Origins: []string{"*"}}}
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-token-1", Skills: []string{"sales"}, Languages: []string{"en"}, MaxChats: 5},
		{ID: "bob", Name: "Bob", Token: "bob-token-1", Skills: []string{"tech"}, Languages: []string{"de", "en"}, MaxChats: 5},
		{ID: "cleo", Name: "Cleo", Token: "cleo-token-1", Skills: []string{"sales", "tech"}, Languages: []string{"de"}, MaxChats: 3},
	}
	return &cfg
}

type visitor struct {
	http     *wiretest.HTTP
	chatID   string
	queue    string
	priority int
	order    int // start order: older first
}

// agentConn is one agent's socket and what it has been assigned.
type agentConn struct {
	id   string
	cfg  config.Agent
	sock *wiretest.Socket

	mu       sync.Mutex
	assigned []string
}

func (a *agentConn) collect(t *testing.T, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		ev, ok := a.sock.Next(50 * time.Millisecond)
		if !ok {
			continue
		}
		if ev.Name == "AgentService.chatAssigned" {
			var d struct{ ChatID string }
			_ = json.Unmarshal(ev.Data, &d)
			a.mu.Lock()
			a.assigned = append(a.assigned, d.ChatID)
			a.mu.Unlock()
		}
	}
}

// got returns the chats the agent was told of, sorted.
func (a *agentConn) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.assigned)
	slices.Sort(out)
	return out
}

// holder returns the agent connected to the chat in the store, or "".
func holder(t *testing.T, gw *servertest.Gateway, chatID string) (string, model.Chat) {
	t.Helper()
	c, err := gw.Store().Chat(context.Background(), chatID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Participants {
		if p.Connected() {
			return p.ID, c
		}
	}
	return "", c
}

// TestRoutingAcrossQueues: 3 agents with different skills and capacities and
// 20 visitors across two queues, over real sockets. Every chat lands on an
// eligible agent, nobody exceeds its capacity, priorities are honoured within
// each queue, and an agent going offline has its chats requeued and served by
// the others.
func TestRoutingAcrossQueues(t *testing.T) {
	cfg := routingConfig()
	// A clock that moves a millisecond per reading gives every chat its own
	// creation time, so "oldest first" is observable without sleeping.
	var ticks atomic.Int64
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	gw := servertest.Start(t, servertest.Options{Config: cfg, Now: now})
	agents := map[string]*agentConn{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range cfg.Agents {
		ac := &agentConn{id: a.ID, cfg: a, sock: wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})}
		ac.sock.MustAuth(a.Token, 0)
		agents[a.ID] = ac
	}

	// 20 visitors wait in two queues with mixed priorities while nobody is online.
	var visitors []*visitor
	for i := range 20 {
		queue := "sales"
		if i%2 == 1 {
			queue = "tech"
		}
		v := &visitor{http: wiretest.NewHTTP(t, gw.URL).WithDeployment("shop"), queue: queue, priority: (i * 7) % 11, order: i}
		var st struct {
			ChatID string `json:"chatId"`
			Token  string `json:"token"`
		}
		v.http.Command("WebChatService.startChat", map[string]any{"nickname": fmt.Sprintf("v%d", i),
			"interactionData": map[string]any{"routing": map[string]any{"targetAddress": queue, "priority": v.priority}}}).Into(t, &st)
		v.chatID, v.http = st.ChatID, v.http.WithToken(st.Token)
		visitors = append(visitors, v)
	}
	for _, a := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.collect(t, stop) }()
	}
	defer func() { close(stop); wg.Wait() }()
	for _, id := range []string{"ann", "bob", "cleo"} {
		agents[id].sock.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	}

	// Every seat fills: 13 chats assigned, 7 wait.
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		n := 0
		for _, v := range visitors {
			if h, _ := holder(t, gw, v.chatID); h != "" {
				n++
			}
		}
		return n == 13
	})
	checkAssignments(t, gw, cfg, visitors)
	// Each agent heard of exactly the chats it holds, once each, on its socket.
	for id, a := range agents {
		var holds []string
		for _, v := range visitors {
			if h, _ := holder(t, gw, v.chatID); h == id {
				holds = append(holds, v.chatID)
			}
		}
		slices.Sort(holds)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return len(a.got()) >= len(holds) })
		if got := a.got(); !slices.Equal(got, holds) {
			t.Fatalf("%s was told of %v on its socket, holds %v", id, got, holds)
		}
	}

	// Phase 2: the waiting visitors give up; Ann and Bob finish their chats;
	// then Cleo goes offline: her chats are queued again and Ann and Bob take
	// them over.
	for _, v := range visitors {
		if h, _ := holder(t, gw, v.chatID); h == "" {
			v.http.Command("WebChatService.endChat", nil).Resolved(t)
		}
	}
	for _, v := range visitors {
		if h, _ := holder(t, gw, v.chatID); h == "ann" || h == "bob" {
			agents[h].sock.Command("AgentService.endChat", map[string]string{"chatId": v.chatID}).Resolved(t)
		}
	}
	var cleos []*visitor
	for _, v := range visitors {
		if h, _ := holder(t, gw, v.chatID); h == "cleo" {
			cleos = append(cleos, v)
		}
	}
	if len(cleos) != 3 {
		t.Fatalf("cleo holds %d chats, want her capacity 3", len(cleos))
	}
	agents["cleo"].sock.Command("AgentService.setStatus", map[string]string{"status": "offline"}).Resolved(t)
	for _, v := range cleos {
		wiretest.WaitFor(t, wiretest.Timeout, func() bool {
			h, _ := holder(t, gw, v.chatID)
			return h == "ann" || h == "bob"
		})
		h, c := holder(t, gw, v.chatID)
		q, _ := cfg.Queue(c.Queue)
		if !eligible(cfg, h, q) {
			t.Fatalf("chat of queue %s requeued to %s, who is not eligible", c.Queue, h)
		}
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return slices.Contains(agents[h].got(), v.chatID) })
		// The visitor was told, and sees the new agent join.
		evs := v.http.Poll(0, 0).Events
		var notice, rejoined bool
		for _, ev := range evs {
			if ev.Name == "WebChatService.messageReceived" {
				for _, m := range ev.Messages(t) {
					notice = notice || m.Type == "Notice"
				}
			}
			if ev.Name == "WebChatService.agentConnected" && ev.Seq > 3 {
				rejoined = true
			}
		}
		if !notice || !rejoined {
			t.Fatalf("visitor of a requeued chat: notice %v, new agent %v: %v", notice, rejoined, evs)
		}
	}
}

func eligible(cfg *config.Config, agentID string, q config.Queue) bool {
	for _, a := range cfg.Agents {
		if a.ID != agentID {
			continue
		}
		for _, s := range q.Skills {
			if !slices.Contains(a.Skills, s) {
				return false
			}
		}
		return q.Language == "" || slices.Contains(a.Languages, q.Language)
	}
	return false
}

// checkAssignments checks eligibility, capacity and, within each queue, that
// no waiting chat is more urgent than an assigned one.
func checkAssignments(t *testing.T, gw *servertest.Gateway, cfg *config.Config, visitors []*visitor) {
	t.Helper()
	load := map[string]int{}
	urgent := func(a, b *visitor) bool { // a more urgent than b
		if a.priority != b.priority {
			return a.priority > b.priority
		}
		return a.order < b.order
	}
	assigned := map[string][]*visitor{}
	waiting := map[string][]*visitor{}
	for _, v := range visitors {
		h, c := holder(t, gw, v.chatID)
		if c.Queue != v.queue || c.Priority != v.priority {
			t.Fatalf("chat stored with queue %s priority %d, want %s %d", c.Queue, c.Priority, v.queue, v.priority)
		}
		if h == "" {
			waiting[v.queue] = append(waiting[v.queue], v)
			continue
		}
		q, _ := cfg.Queue(c.Queue)
		if !eligible(cfg, h, q) {
			t.Fatalf("chat of queue %s assigned to %s, who lacks its skills or language", c.Queue, h)
		}
		load[h]++
		assigned[v.queue] = append(assigned[v.queue], v)
	}
	for _, a := range cfg.Agents {
		if load[a.ID] > a.MaxChats {
			t.Fatalf("%s holds %d chats, over its capacity %d", a.ID, load[a.ID], a.MaxChats)
		}
		if load[a.ID] != a.MaxChats {
			t.Fatalf("%s holds %d chats while visitors wait; capacity %d", a.ID, load[a.ID], a.MaxChats)
		}
	}
	for q, ws := range waiting {
		for _, w := range ws {
			for _, a := range assigned[q] {
				if urgent(w, a) {
					t.Fatalf("queue %s: waiting chat (priority %d, #%d) is more urgent than assigned (priority %d, #%d)",
						q, w.priority, w.order, a.priority, a.order)
				}
			}
		}
	}
}
