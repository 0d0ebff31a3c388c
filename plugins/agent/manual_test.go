package agent_test

import (
	"encoding/json"
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

// TestManualAccept: chats of a manual-accept queue are never assigned by
// routing, even to an online agent with free seats; they are offered in
// listChats to the agents who could serve them, most urgent first; an
// eligible agent accepts them, and never beyond its capacity, even when it
// accepts several at once; an agent without the queue's skills cannot, and
// a chat accepted once cannot be accepted again.
func TestManualAccept(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Queues = []config.Queue{
		{Name: "desk", Skills: []string{"desk"}, ManualAccept: true},
		{Name: "auto"},
	}
	cfg.Deployments = []config.Deployment{{Key: "shop", Mode: config.ModeLive, Queue: "desk", Origins: []string{"*"}}}
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-token-1", Skills: []string{"desk"}, MaxChats: 3},
		{ID: "bob", Name: "Bob", Token: "bob-token-1", MaxChats: 5},
	}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-token-1", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	annHTTP := wiretest.NewHTTP(t, gw.URL).WithToken("ann-token-1")
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-token-1")

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("shop")
	start := func(queue string, priority int) string {
		var st struct{ ChatID string }
		guest.Command("WebChatService.startChat", map[string]any{"nickname": "v",
			"interactionData": map[string]any{"routing": map[string]any{"targetAddress": queue, "priority": priority}}}).Into(t, &st)
		return st.ChatID
	}
	var desk []string
	for i := range 4 {
		desk = append(desk, start("desk", i%2*5)) // priorities 0, 5, 0, 5
	}
	// A chat of an automatic queue, started after them, is routed to Ann:
	// routing has run over the desk chats and left them waiting.
	auto := start("auto", 0)
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		return ev.Name == "AgentService.chatAssigned" && json.Valid(ev.Data) && chatIDOf(t, ev.Data) == auto
	})
	for _, id := range desk {
		if h, c := holder(t, gw, id); h != "" || c.State != model.StateQueued {
			t.Fatalf("a manual-accept chat was routed: %s holds it, state %s", h, c.State)
		}
	}

	// Ann is offered the four, most urgent first; Bob, who lacks the skill,
	// none.
	var list struct {
		Queued []struct {
			ChatID   string `json:"chatId"`
			Priority int    `json:"priority"`
		} `json:"queued"`
	}
	annHTTP.Command("AgentService.listChats", nil).Into(t, &list)
	var offered []string
	for _, q := range list.Queued {
		offered = append(offered, q.ChatID)
	}
	if want := []string{desk[1], desk[3], desk[0], desk[2]}; !slices.Equal(offered, want) {
		t.Fatalf("Ann is offered %v, want %v (priority, then oldest)", offered, want)
	}
	bob.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	bob.Command("AgentService.listChats", nil).Into(t, &list)
	if len(list.Queued) != 0 {
		t.Fatalf("Bob, without the desk skill, is offered %+v", list.Queued)
	}
	if rej := bob.Command("AgentService.acceptChat", map[string]string{"chatId": desk[0]}).Rejected(t); rej.Code != "not_eligible" {
		t.Fatalf("Bob accepting a desk chat: %+v", rej)
	}

	// Ann has two free seats and accepts all four at once: two succeed, two
	// are refused at capacity.
	replies := make([]wiretest.Reply, len(desk))
	var wg sync.WaitGroup
	for i, id := range desk {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = annHTTP.Command("AgentService.acceptChat", map[string]string{"chatId": id})
		}()
	}
	wg.Wait()
	var accepted []string
	for i, r := range replies {
		switch {
		case r.Status == "resolved":
			accepted = append(accepted, desk[i])
		case r.Error != nil && r.Error.Code == "at_capacity":
		default:
			t.Fatalf("accepting %s: HTTP %d %s", desk[i], r.HTTPStatus, r.Body)
		}
	}
	info, err := gw.Engine().Agent("ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(accepted) != 2 || len(info.Chats) != 3 {
		t.Fatalf("Ann (3 seats, 1 taken) accepted %d of 4 at once and holds %d chats", len(accepted), len(info.Chats))
	}
	for _, id := range accepted {
		if h, c := holder(t, gw, id); h != "ann" || c.State != model.StateActive {
			t.Fatalf("accepted chat %s: holder %q, state %s", id, h, c.State)
		}
	}

	// A chat once accepted is taken.
	cfg2 := *gw.Engine().Config()
	cfg2.Agents = slices.Clone(cfg2.Agents)
	cfg2.Agents[1].Skills = []string{"desk"}
	if err := gw.Engine().SetConfig(t.Context(), cfg2); err != nil {
		t.Fatal(err)
	}
	if rej := bob.Command("AgentService.acceptChat", map[string]string{"chatId": accepted[0]}).Rejected(t); rej.Code != "already_assigned" {
		t.Fatalf("Bob accepting Ann's chat: %+v", rej)
	}
	for _, id := range desk {
		if !slices.Contains(accepted, id) {
			bob.Command("AgentService.acceptChat", map[string]string{"chatId": id}).Resolved(t)
		}
	}
}

func chatIDOf(t *testing.T, data json.RawMessage) string {
	t.Helper()
	var d struct {
		ChatID string `json:"chatId"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return d.ChatID
}

// TestRoutingTieBreak: a chat goes to the eligible agent with the most free
// seats, and between equals to the one idle the longest (the earliest to
// come online or be given a chat).
func TestRoutingTieBreak(t *testing.T) {
	cfg := twoAgentsConfig()
	var ticks atomic.Int64
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	gw := servertest.Start(t, servertest.Options{Config: cfg, Now: now})
	wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1").Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	// bob came online first; then each chat goes to the agent with more free
	// seats, or, when both have as many, to the one given a chat longer ago.
	for i, want := range []string{"bob", "ann", "bob", "ann", "bob", "ann"} {
		var st struct{ ChatID string }
		guest.Command("WebChatService.startChat", nil).Into(t, &st)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { h, _ := holder(t, gw, st.ChatID); return h != "" })
		if h, _ := holder(t, gw, st.ChatID); h != want {
			t.Fatalf("chat %d went to %s, want %s", i+1, h, want)
		}
	}
}
