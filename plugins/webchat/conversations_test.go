package webchat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// visitorEvents reads every event of the visitor's feed by long-polls.
func visitorEvents(t *testing.T, v *wiretest.HTTP) []wiretest.Event {
	t.Helper()
	var all []wiretest.Event
	var after uint64
	for {
		res := v.Poll(after, 0)
		if len(res.Events) == 0 {
			return all
		}
		for _, ev := range res.Events {
			all = append(all, ev)
			if ev.Seq > after {
				after = ev.Seq
			}
		}
	}
}

func lifecycleEvents(evs []wiretest.Event) []string {
	var out []string
	for _, ev := range evs {
		if strings.HasSuffix(ev.Name, "Connected") || strings.HasSuffix(ev.Name, "Disconnected") {
			out = append(out, ev.Name)
		}
	}
	return out
}

// TestAsyncLifecycle: an asynchronous conversation has no connected and
// disconnected events (a live chat of the same script has them); closing
// the agent's intervention leaves it open; the visitor cannot end it, an
// agent can.
func TestAsyncLifecycle(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)

	script := func(deployment string) (string, *wiretest.HTTP) {
		v := wiretest.NewHTTP(t, gw.URL).WithDeployment(deployment)
		var st started
		v.Command("WebChatService.startChat", map[string]any{"nickname": "Ola"}).Into(t, &st)
		v = v.WithToken(st.Token)
		v.Command("WebChatService.sendMessage", map[string]string{"message": "hello"}).Resolved(t)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool {
			c, _ := gw.Store().Chat(ctx, st.ChatID)
			return c.State == model.StateActive
		})
		ann.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": "hi Ola"}).Resolved(t)
		return st.ChatID, v
	}

	liveID, live := script("demo")
	ann.Command("AgentService.endChat", map[string]string{"chatId": liveID}).Resolved(t)
	if got := lifecycleEvents(visitorEvents(t, live)); len(got) == 0 {
		t.Fatal("a live chat shows no connected/disconnected events: the check below would prove nothing")
	}

	asyncID, async := script("demo-async")
	ann.Command("AgentService.resolveChat", map[string]string{"chatId": asyncID, "disposition": "answered"}).Resolved(t)
	if c, _ := gw.Store().Chat(ctx, asyncID); c.State != model.StateIdle {
		t.Fatalf("after the intervention was closed: state %q, want idle (open)", c.State)
	}
	if rej := async.Command("WebChatService.endChat", nil).Rejected(t); rej.Code != "async_no_end" {
		t.Fatalf("the visitor ended an asynchronous conversation: %+v", rej)
	}
	// The visitor writes again; the conversation is routed again and the
	// agent ends it.
	async.Command("WebChatService.sendMessage", map[string]string{"message": "one more thing"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, asyncID)
		return c.State == model.StateActive
	})
	ann.Command("AgentService.endChat", map[string]string{"chatId": asyncID}).Resolved(t)
	evs := visitorEvents(t, async)
	if got := lifecycleEvents(evs); len(got) != 0 {
		t.Fatalf("an asynchronous conversation published %v", got)
	}
	var messages, ended int
	for _, ev := range evs {
		switch ev.Name {
		case "WebChatService.messageReceived":
			messages++
		case "WebChatService.ended":
			ended++
		}
	}
	if messages == 0 || ended != 1 {
		t.Fatalf("async feed: %d messageReceived, %d ended, want some and 1: %v", messages, ended, evs)
	}
}

// supervisedGateway starts the demo setup with a supervisor, Sue, beside
// Ann, who is online: Ann answers, Sue whispers.
func supervisedGateway(t *testing.T) (gw *servertest.Gateway, ann, sue *wiretest.HTTP) {
	t.Helper()
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Agents = append(cfg.Agents, config.Agent{ID: "sue", Name: "Sue", Token: "sue-secret", MaxChats: 5, Supervisor: true})
	gw = servertest.Start(t, servertest.Options{Config: &cfg})
	ann = wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	sue = wiretest.NewHTTP(t, gw.URL).WithToken("sue-secret")
	return gw, ann, sue
}

// TestConversationList covers the identity's conversations: a new one from
// the list, switching between them, unread counts that ignore what the
// visitor does not see, and another identity's conversation out of reach.
func TestConversationList(t *testing.T) {
	gw, ann, sue := supervisedGateway(t)
	ctx := context.Background()

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	first := mustStart(t, guest, map[string]any{"nickname": "Pia"})
	v1 := guest.WithToken(first.Token)
	v1.Command("WebChatService.sendMessage", map[string]string{"message": "first topic"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, first.ChatID)
		return c.State == model.StateActive
	})
	ann.Command("AgentService.sendMessage", map[string]string{"chatId": first.ChatID, "message": "on it"}).Resolved(t)
	// A silent supervisor's whisper is for agents only: never unread.
	sue.Command("AgentService.joinChat", map[string]any{"chatId": first.ChatID, "silent": true}).Resolved(t)
	sue.Command("AgentService.sendMessage", map[string]string{"chatId": first.ChatID, "message": "psst"}).Resolved(t)

	var second started
	v1.Command("WebChatService.startChat", map[string]any{"newConversation": true}).Into(t, &second)
	if second.ChatID == first.ChatID || second.Token == "" || second.ParticipantID != first.ParticipantID {
		t.Fatalf("new conversation: %+v (first %+v)", second, first)
	}
	v2 := guest.WithToken(second.Token)

	type conv struct {
		ChatID      string `json:"chatId"`
		Unread      int    `json:"unread"`
		Current     bool   `json:"current"`
		Initiated   bool   `json:"identityInitiated"`
		LastMessage *struct {
			Text string `json:"text"`
		} `json:"lastMessage"`
	}
	list := func(v *wiretest.HTTP) map[string]conv {
		t.Helper()
		var l struct {
			Conversations []conv `json:"conversations"`
		}
		v.Command("WebChatService.listConversations", nil).Into(t, &l)
		out := map[string]conv{}
		for _, c := range l.Conversations {
			out[c.ChatID] = c
		}
		return out
	}
	got := list(v2)
	if len(got) != 2 {
		t.Fatalf("conversations: %+v", got)
	}
	a, b := got[first.ChatID], got[second.ChatID]
	if a.Current || a.Initiated || a.Unread != 1 || a.LastMessage == nil || a.LastMessage.Text != "on it" {
		t.Errorf("first conversation seen from the second: %+v", a)
	}
	if !b.Current || !b.Initiated || b.Unread != 0 {
		t.Errorf("second conversation seen from itself: %+v", b)
	}

	// Switch back to the first: its token reads the first conversation.
	var sw started
	v2.Command("WebChatService.switchConversation", map[string]string{"chatId": first.ChatID}).Into(t, &sw)
	if sw.ChatID != first.ChatID || sw.Token == "" || sw.Token == first.Token {
		t.Fatalf("switchConversation: %+v", sw)
	}
	back := guest.WithToken(sw.Token)
	if got := list(back); !got[first.ChatID].Current || got[second.ChatID].Current {
		t.Fatalf("after switching: %+v", got)
	}
	back.Command("WebChatService.markRead", nil).Resolved(t)
	if got := list(v2); got[first.ChatID].Unread != 0 {
		t.Fatalf("unread after markRead on the switched device: %+v", got[first.ChatID])
	}

	// Another identity's conversation, and an unknown one, are not reachable.
	other := mustStart(t, guest, map[string]any{"nickname": "Max"})
	for _, id := range []string{other.ChatID, "no-such-chat"} {
		rej := v2.Command("WebChatService.switchConversation", map[string]string{"chatId": id}).Rejected(t)
		if rej.Code != "conversation_not_found" || rej.Message != "No such conversation for this visitor." {
			t.Fatalf("switch to %s: %+v", id, rej)
		}
	}
	if got := list(guest.WithToken(other.Token)); len(got) != 1 {
		t.Fatalf("another identity lists %d conversations, want its own only", len(got))
	}
}

// TestIdentifySigned: on a deployment with identity: signed, identifying as
// another customer mid-chat needs a valid signature like startChat; a
// missing, forged or expired one is rejected and starts nothing.
func TestIdentifySigned(t *testing.T) {
	const secret = signedSecret
	gw, clk, sign := signedGateway(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("signed")
	st := mustStart(t, guest, map[string]any{"identity": map[string]string{"jwt": sign(secret, "cust-1", clk.Now().Add(time.Hour))}})
	v := guest.WithToken(st.Token)

	cases := []struct {
		name     string
		identity map[string]string
		code     string
	}{
		{"missing", map[string]string{"uuid": "cust-2"}, "identity_required"},
		{"forged", map[string]string{"jwt": sign("not-the-secret-at-all-0123456789", "cust-2", clk.Now().Add(time.Hour))}, "identity_invalid"},
		{"expired", map[string]string{"jwt": sign(secret, "cust-2", clk.Now().Add(-time.Hour))}, "identity_expired"},
	}
	before := countChats(t, gw)
	for _, tc := range cases {
		r := v.Command("WebChatService.identify", tc.identity)
		if rej := r.Rejected(t); rej.Code != tc.code || r.HTTPStatus != 401 {
			t.Errorf("%s: HTTP %d %+v, want 401 %s", tc.name, r.HTTPStatus, rej, tc.code)
		}
	}
	if got := countChats(t, gw); got != before {
		t.Fatalf("rejected identities started %d chats", got-before)
	}
	// Profile fields alone keep the conversation.
	var same struct {
		NewChat bool   `json:"newChat"`
		ChatID  string `json:"chatId"`
	}
	v.Command("WebChatService.identify", map[string]any{"nickname": "Jo", "extra": map[string]string{"tier": "gold"}}).Into(t, &same)
	if same.NewChat || same.ChatID != st.ChatID {
		t.Fatalf("a profile update changed the chat: %+v", same)
	}
	var other struct {
		NewChat       bool   `json:"newChat"`
		ChatID        string `json:"chatId"`
		ParticipantID string `json:"participantId"`
	}
	v.Command("WebChatService.identify", map[string]string{"jwt": sign(secret, "cust-2", clk.Now().Add(time.Hour))}).Into(t, &other)
	if !other.NewChat || other.ChatID == st.ChatID || other.ParticipantID == st.ParticipantID {
		t.Fatalf("a valid signature of another customer: %+v", other)
	}
}

// TestConversationListLastMessageFarBack: a conversation whose newest
// events, many pages of them, are no messages for the visitor (a silent
// supervisor's whispers) still lists its last message.
func TestConversationListLastMessageFarBack(t *testing.T) {
	gw, ann, sue := supervisedGateway(t)
	ctx := context.Background()

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	st := mustStart(t, guest, map[string]any{"nickname": "Pia"})
	v := guest.WithToken(st.Token)
	v.Command("WebChatService.sendMessage", map[string]string{"message": "my parcel"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, st.ChatID)
		return c.State == model.StateActive
	})
	ann.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": "found it"}).Resolved(t)
	sue.Command("AgentService.joinChat", map[string]any{"chatId": st.ChatID, "silent": true}).Resolved(t)
	const whispers = 300 // more than the first pages read back
	for range whispers {
		sue.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": "psst"}).Resolved(t)
	}

	var l struct {
		Conversations []struct {
			ChatID      string `json:"chatId"`
			LastMessage *struct {
				Text string `json:"text"`
			} `json:"lastMessage"`
		} `json:"conversations"`
	}
	v.Command("WebChatService.listConversations", nil).Into(t, &l)
	if len(l.Conversations) != 1 || l.Conversations[0].ChatID != st.ChatID {
		t.Fatalf("conversations: %+v", l.Conversations)
	}
	if m := l.Conversations[0].LastMessage; m == nil || m.Text != "found it" {
		t.Errorf("lastMessage = %+v, want the agent's \"found it\" from before %d whispers", m, whispers)
	}
}
