package agent_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

func twoAgentsConfig() *config.Config {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-secret", MaxChats: 5},
		{ID: "bob", Name: "Bob", Token: "bob-secret-1", MaxChats: 5},
		{ID: "sue", Name: "Sue", Token: "sue-secret-1", MaxChats: 5, Supervisor: true},
	}
	return &cfg
}

// visitorTexts reads everything the visitor's stream holds.
func visitorStream(t *testing.T, v *wiretest.HTTP) []wiretest.Event {
	t.Helper()
	return v.Poll(0, 0).Events
}

// TestSupervisorsAndTransfers: a silent supervisor sees the chat and
// whispers without the visitor knowing; an open one is announced; a transfer
// to another agent tells the visitor and loses nothing.
func TestSupervisorsAndTransfers(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: twoAgentsConfig()})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1")
	sue := wiretest.NewHTTP(t, gw.URL).WithToken("sue-secret-1")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Vic"}).Into(t, &st)
	v := guest.WithToken(st.Token)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st.ChatID, "ann") })

	// Only supervisors may join.
	if rej := bob.Command("AgentService.joinChat", map[string]any{"chatId": st.ChatID}).Rejected(t); rej.Code != "not_supervisor" {
		t.Fatalf("a plain agent joining: %+v", rej)
	}
	sue.Command("AgentService.joinChat", map[string]any{"chatId": st.ChatID, "silent": true}).Resolved(t)
	sue.Command("AgentService.sendMessage", map[string]any{"chatId": st.ChatID, "message": "whisper: offer the refund"}).Resolved(t)
	var tr struct{ Messages []wiretest.Message }
	ann.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Into(t, &tr)
	found := false
	for _, m := range tr.Messages {
		found = found || strings.Contains(m.Text, "whisper")
	}
	if !found {
		t.Fatal("the agent does not see the silent supervisor's whisper")
	}
	for _, ev := range visitorStream(t, v) {
		if strings.Contains(string(ev.Data), "Sue") || strings.Contains(string(ev.Data), "whisper") {
			t.Fatalf("the visitor sees the silent supervisor: %s %s", ev.Name, ev.Data)
		}
	}
	v.Command("WebChatService.getTranscript", nil).Into(t, &tr)
	for _, m := range tr.Messages {
		if strings.Contains(m.Text, "whisper") || m.From.Name == "Sue" {
			t.Fatalf("the visitor's transcript shows the silent supervisor: %+v", m)
		}
	}

	// An open supervisor on another chat is announced.
	var st2 struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Wes"}).Into(t, &st2)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st2.ChatID, "ann") })
	sue.Command("AgentService.joinChat", map[string]any{"chatId": st2.ChatID}).Resolved(t)
	announced := false
	for _, ev := range visitorStream(t, guest.WithToken(st2.Token)) {
		announced = announced || ev.Name == "WebChatService.supervisorConnected"
	}
	if !announced {
		t.Fatal("an open supervisor is not announced to the visitor")
	}

	// Not while Bob is offline: nobody would answer Vic. Ann keeps the chat.
	if rej := ann.Command("AgentService.transferChat", map[string]any{"chatId": st.ChatID, "agentId": "bob"}).Rejected(t); rej.Code != "agent_offline" {
		t.Fatalf("a transfer to an offline agent: %+v", rej)
	}
	if !gw.Engine().IsParticipant(st.ChatID, "ann") {
		t.Fatal("a refused transfer took the chat from Ann")
	}

	// Ann hands Vic to Bob: Vic is told, Bob has the history.
	bob.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": st.ChatID, "message": "Bob knows refunds best"}).Resolved(t)
	ann.Command("AgentService.transferChat", map[string]any{"chatId": st.ChatID, "agentId": "bob"}).Resolved(t)
	var notice, bobJoined bool
	for _, ev := range visitorStream(t, v) {
		if ev.Name == "WebChatService.messageReceived" {
			for _, m := range ev.Messages(t) {
				notice = notice || (m.Type == "Notice" && strings.Contains(m.Text, "Bob"))
			}
		}
		bobJoined = bobJoined || (ev.Name == "WebChatService.agentConnected" && strings.Contains(string(ev.Data), "Bob"))
	}
	if !notice || !bobJoined {
		t.Fatalf("after the transfer the visitor got notice %v, Bob joined %v", notice, bobJoined)
	}
	bob.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Into(t, &tr)
	history := false
	for _, m := range tr.Messages {
		history = history || m.Text == "Bob knows refunds best"
	}
	if !history {
		t.Fatalf("Bob's transcript lacks what Ann said before the transfer: %+v", tr.Messages)
	}
	if rej := ann.Command("AgentService.sendMessage", map[string]any{"chatId": st.ChatID, "message": "still here?"}).Rejected(t); rej.Code != "not_participant" {
		t.Fatalf("Ann writing after the transfer: %+v", rej)
	}
}

// TestPresenceAndQueuePositions: waiting visitors hear their place in the
// queue; an online agent whose connections all dropped turns away after the
// grace period and gets no new chats.
func TestPresenceAndQueuePositions(t *testing.T) {
	var ticks atomic.Int64
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	// Each reading moves a millisecond, so chats started one after the other
	// have distinct creation times; the test jumps it for the grace period.
	now := func() time.Time { return base.Add(time.Duration(ticks.Add(int64(time.Millisecond)))) }
	cfg := twoAgentsConfig()
	cfg.Agents[1].MaxChats = 1
	gw := servertest.Start(t, servertest.Options{Config: cfg, Now: now})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var socks []*wiretest.Socket
	for i := range 3 {
		var st struct{ Token string }
		guest.Command("WebChatService.startChat", nil).Into(t, &st)
		var pos struct{ Position int }
		guest.WithToken(st.Token).Command("WebChatService.getQueuePosition", nil).Into(t, &pos)
		if pos.Position != i+1 {
			t.Fatalf("visitor %d waits at position %d", i+1, pos.Position)
		}
		sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
		sock.MustAuth(st.Token, 0)
		socks = append(socks, sock)
	}
	// Bob takes one chat (his capacity here): the others move up, and hear it.
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1")
	bob.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	for i, want := range []int{1, 2} {
		socks[i+1].Until(wiretest.Timeout, func(ev wiretest.Event) bool {
			return ev.Name == "WebChatService.queuePosition" && strings.Contains(string(ev.Data), fmt.Sprintf(`"position":%d`, want))
		})
	}

	// Ann goes online over a socket, then the socket drops: after the grace
	// period she is away, and chats are not routed to her.
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-secret", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	gw.Engine().SweepPresence()
	ann.Close()
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Bus().Subscribers(bus.AgentTopic("ann")) == 0 })
	gw.Engine().SweepPresence() // notes the absence
	ticks.Add(int64(61 * time.Second))
	gw.Engine().SweepPresence()
	info, err := gw.Engine().Agent("ann")
	if err != nil || info.Status != "away" {
		t.Fatalf("after a minute without a connection Ann is %q (%v), want away", info.Status, err)
	}
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", nil).Into(t, &st)
	var pos struct{ Position int }
	guest.WithToken(st.Token).Command("WebChatService.getQueuePosition", nil).Into(t, &pos)
	// Her chats went back to the queue, and the new one waits behind them.
	if pos.Position == 0 || gw.Engine().IsParticipant(st.ChatID, "ann") {
		t.Fatalf("a new chat went to an agent who is away: position %d", pos.Position)
	}
}

// TestNoAgentsPolicy: a queue set to reject refuses startChat while nobody
// online could serve it, with the documented rejection, and accepts once an
// agent is there; a queue set to wait (the default) always queues.
func TestNoAgentsPolicy(t *testing.T) {
	cfg := twoAgentsConfig()
	cfg.Queues = []config.Queue{{Name: "support", WhenNoAgents: "reject"}, {Name: "later"}}
	cfg.Deployments = append(cfg.Deployments, config.Deployment{Key: "patient", Mode: config.ModeLive, Queue: "later", Origins: []string{"*"}})
	gw := servertest.Start(t, servertest.Options{Config: cfg})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	r := guest.Command("WebChatService.startChat", nil)
	if rej := r.Rejected(t); rej.Code != "no_agents" || r.HTTPStatus != 503 {
		t.Fatalf("startChat with nobody online: HTTP %d %+v, want 503 no_agents", r.HTTPStatus, rej)
	}
	wiretest.NewHTTP(t, gw.URL).WithDeployment("patient").Command("WebChatService.startChat", nil).Resolved(t)
	wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest.Command("WebChatService.startChat", nil).Resolved(t)
}
