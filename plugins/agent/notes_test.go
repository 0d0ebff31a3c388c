package agent_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// noteMessage is a transcript entry with the internal mark agents see.
type noteMessage struct {
	Index    uint64 `json:"index"`
	Type     string `json:"type"`
	Text     string `json:"text"`
	Internal bool   `json:"internal"`
	From     struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"from"`
}

// startAssigned starts a chat on demo and waits until Ann has it.
func startAssigned(t *testing.T, gw *servertest.Gateway, ann *wiretest.HTTP) (chatID string, visitor *wiretest.HTTP) {
	t.Helper()
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Vic"}).Into(t, &st)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st.ChatID, "ann") })
	return st.ChatID, guest.WithToken(st.Token)
}

// TestListCannedResponses: an agent gets the canned responses of its chat's
// deployment; an agent who may not read the chat does not; a chat of a
// deployment without any gets an empty list.
func TestListCannedResponses(t *testing.T) {
	cfg := twoAgentsConfig()
	want := []config.CannedResponse{{Shortcut: "greet", Text: "Hello, how can I help?"}, {Shortcut: "bye", Text: "Thanks, bye!"}}
	cfg.Deployments[0].CannedResponses = want
	gw := servertest.Start(t, servertest.Options{Config: cfg})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1")
	sue := wiretest.NewHTTP(t, gw.URL).WithToken("sue-secret-1")
	chatID, _ := startAssigned(t, gw, ann)

	var got struct {
		ChatID          string                  `json:"chatId"`
		Deployment      string                  `json:"deployment"`
		CannedResponses []config.CannedResponse `json:"cannedResponses"`
	}
	ann.Command("AgentService.listCannedResponses", map[string]string{"chatId": chatID}).Into(t, &got)
	if got.ChatID != chatID || got.Deployment != "demo" || len(got.CannedResponses) != 2 ||
		got.CannedResponses[0] != want[0] || got.CannedResponses[1] != want[1] {
		t.Fatalf("listCannedResponses = %+v, want demo's %+v", got, want)
	}
	sue.Command("AgentService.listCannedResponses", map[string]string{"chatId": chatID}).Into(t, &got)
	if len(got.CannedResponses) != 2 {
		t.Fatalf("a supervisor's listCannedResponses = %+v", got)
	}
	if rej := bob.Command("AgentService.listCannedResponses", map[string]string{"chatId": chatID}).Rejected(t); rej.Code != "not_participant" {
		t.Fatalf("an agent not in the chat: %+v", rej)
	}
	if rej := ann.Command("AgentService.listCannedResponses", nil).Rejected(t); rej.Code != "invalid_request" {
		t.Fatalf("without chatId: %+v", rej)
	}
	if rej := ann.Command("AgentService.listCannedResponses", map[string]string{"chatId": "nope"}).Rejected(t); rej.Code != "chat_not_found" {
		t.Fatalf("an unknown chat: %+v", rej)
	}
	visitor := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	if rej := visitor.Command("AgentService.listCannedResponses", map[string]string{"chatId": chatID}).Rejected(t); rej.Code != "forbidden" {
		t.Fatalf("a visitor: %+v", rej)
	}

	// The async deployment has none: an empty list, not null.
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var st struct{ ChatID string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Wes"}).Into(t, &st)
	raw := sue.Command("AgentService.listCannedResponses", map[string]string{"chatId": st.ChatID}).Resolved(t)
	if !strings.Contains(string(raw), `"cannedResponses":[]`) {
		t.Fatalf("a deployment without canned responses: %s", raw)
	}
}

// TestInternalNotes: a note is in the agent's stream, transcript and history
// marked internal, and a supervisor reads it; the visitor's stream and
// transcript never carry it, and the visitor still gets what follows.
func TestInternalNotes(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: twoAgentsConfig()})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	sue := wiretest.NewHTTP(t, gw.URL).WithToken("sue-secret-1")
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth("ann-secret", 0)
	chatID, v := startAssigned(t, gw, ann)

	ann.Command("AgentService.sendMessage", map[string]any{"chatId": chatID, "message": "NOTE: VIP, refund approved", "internal": true}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": chatID, "message": "Let me check that for you."}).Resolved(t)

	// The stream: the note, marked, then the reply, unmarked.
	var streamed []noteMessage
	sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		if ev.Name == "AgentService.messageReceived" {
			var d struct{ Messages []noteMessage }
			wiretest.Decode(t, ev.Data, &d)
			streamed = append(streamed, d.Messages...)
		}
		return strings.Contains(string(ev.Data), "Let me check")
	})
	checkNote := func(where string, msgs []noteMessage) {
		t.Helper()
		var note, reply *noteMessage
		for i, m := range msgs {
			switch m.Text {
			case "NOTE: VIP, refund approved":
				note = &msgs[i]
			case "Let me check that for you.":
				reply = &msgs[i]
			}
		}
		if note == nil || !note.Internal || note.Type != "Message" || note.From.Name != "Ann" || note.From.Type != "Agent" {
			t.Errorf("%s: the note is %+v, want Ann's Message marked internal", where, note)
		}
		if reply == nil || reply.Internal {
			t.Errorf("%s: the reply is %+v, want it not internal", where, reply)
		}
	}
	checkNote("stream", streamed)
	var tr struct{ Messages []noteMessage }
	ann.Command("AgentService.getTranscript", map[string]string{"chatId": chatID}).Into(t, &tr)
	checkNote("getTranscript", tr.Messages)
	ann.Command("AgentService.getHistory", map[string]string{"chatId": chatID}).Into(t, &tr)
	checkNote("getHistory", tr.Messages)
	sue.Command("AgentService.getTranscript", map[string]string{"chatId": chatID}).Into(t, &tr)
	checkNote("a supervisor's getTranscript", tr.Messages)

	// The visitor: the reply, never the note.
	var events []wiretest.Event
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		events = v.Poll(0, 0).Events
		for _, ev := range events {
			if strings.Contains(string(ev.Data), "Let me check") {
				return true
			}
		}
		return false
	})
	for _, ev := range events {
		if strings.Contains(string(ev.Data), "VIP") || strings.Contains(string(ev.Data), "internal") {
			t.Fatalf("the visitor's stream carries the note: %s %s", ev.Name, ev.Data)
		}
	}
	raw := v.Command("WebChatService.getTranscript", nil).Resolved(t)
	if strings.Contains(string(raw), "VIP") || !strings.Contains(string(raw), "Let me check") {
		t.Fatalf("the visitor's transcript: %s", raw)
	}

	// A note needs text, like any message.
	if rej := ann.Command("AgentService.sendMessage", map[string]any{"chatId": chatID, "message": " ", "internal": true}).Rejected(t); rej.Code != "no_message" {
		t.Fatalf("an empty note: %+v", rej)
	}
}

// TestInternalNoteKeepsThread: in an asynchronous conversation a note after
// the thread's inactivity neither closes the thread nor opens a new one (the
// visitor and webhooks would learn of it); a reply after the inactivity
// does.
func TestInternalNoteKeepsThread(t *testing.T) {
	var offset atomic.Int64
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	gw := servertest.Start(t, servertest.Options{Config: twoAgentsConfig(), Now: now})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Leo"}).Into(t, &st)
	guest.WithToken(st.Token).Command("WebChatService.sendMessage", map[string]any{"message": "my parcel"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st.ChatID, "ann") })

	threads := func() (opened, closed int) {
		t.Helper()
		evs, err := gw.Store().EventsAfter(context.Background(), st.ChatID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			switch ev.Type {
			case model.EventThreadOpened:
				opened++
			case model.EventThreadClosed:
				closed++
			}
		}
		return opened, closed
	}
	offset.Store(int64(48 * time.Hour)) // far past threadInactivity
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": st.ChatID, "message": "NOTE: check the courier", "internal": true}).Resolved(t)
	if o, c := threads(); o != 1 || c != 0 {
		t.Fatalf("after the note: %d threads opened, %d closed; want 1 and 0", o, c)
	}
	offset.Store(int64(96 * time.Hour))
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": st.ChatID, "message": "It ships today."}).Resolved(t)
	if o, c := threads(); o != 2 || c != 1 {
		t.Fatalf("after the reply: %d threads opened, %d closed; want 2 and 1", o, c)
	}
}
