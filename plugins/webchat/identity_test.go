package webchat_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// startAnswer is startChat's answer with the fields of messaging mode.
type startAnswer struct {
	started
	Resumed       bool   `json:"resumed"`
	IdentityToken string `json:"identityToken"`
}

// TestAnonymousIdentityKept: on an asynchronous deployment startChat issues
// an identity token for the anonymous identity; the browser keeps it and
// presents it with its next startChat, which continues as that identity (its
// earlier conversations listed, the same participant for the agents) and
// resumes its open conversation instead of starting another, unless
// newConversation asks for one. A forged, expired, foreign or session-data
// token is a new anonymous identity that reaches nothing, and a live
// deployment issues none and ignores one.
func TestAnonymousIdentityKept(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	cfg := config.Demo()
	cfg.Deployments = append(cfg.Deployments, config.Deployment{Key: "async-b", Mode: config.ModeAsync, Queue: "support", Origins: []string{"*"}})
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Now: clk.Now})
	ctx := context.Background()
	agent := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	agent.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	start := func(g *wiretest.HTTP, opts map[string]any) startAnswer {
		t.Helper()
		var a startAnswer
		g.Command("WebChatService.startChat", opts).Into(t, &a)
		if a.ChatID == "" || a.Token == "" {
			t.Fatalf("startChat %v: %+v", opts, a)
		}
		return a
	}
	active := func(chatID string) {
		t.Helper()
		wiretest.WaitFor(t, wiretest.Timeout, func() bool {
			c, _ := gw.Store().Chat(ctx, chatID)
			return c.State == model.StateActive
		})
	}
	listed := func(token string) []string {
		t.Helper()
		var l struct {
			Conversations []struct {
				ChatID string `json:"chatId"`
			} `json:"conversations"`
		}
		guest.WithToken(token).Command("WebChatService.listConversations", nil).Into(t, &l)
		var ids []string
		for _, c := range l.Conversations {
			ids = append(ids, c.ChatID)
		}
		return ids
	}

	// Day 1: a first conversation, answered, then ended by the agent.
	first := start(guest, map[string]any{"nickname": "Pia"})
	if first.IdentityToken == "" || first.Resumed {
		t.Fatalf("a new anonymous visitor: %+v", first)
	}
	guest.WithToken(first.Token).Command("WebChatService.sendMessage", map[string]string{"message": "where is my parcel"}).Resolved(t)
	active(first.ChatID)
	agent.Command("AgentService.sendMessage", map[string]string{"chatId": first.ChatID, "message": "on its way"}).Resolved(t)
	agent.Command("AgentService.endChat", map[string]string{"chatId": first.ChatID}).Resolved(t)
	kept := first.IdentityToken

	// Day 2: the same browser, no chat token, only the kept identity token.
	clk.Add(24 * time.Hour)
	second := start(guest, map[string]any{"identityToken": kept})
	if second.ChatID == first.ChatID || second.Resumed || second.ParticipantID != first.ParticipantID || second.IdentityToken == "" {
		t.Fatalf("the kept identity's next conversation: %+v (first %+v)", second, first)
	}
	c2, _ := gw.Store().Chat(ctx, second.ChatID)
	if c2.Visitor.Nickname != "Pia" {
		t.Errorf("the returning visitor is a stranger to agents: %+v", c2.Visitor)
	}
	if got := listed(second.Token); len(got) != 2 {
		t.Fatalf("the kept identity lists %v, want both conversations", got)
	}
	guest.WithToken(second.Token).Command("WebChatService.sendMessage", map[string]string{"message": "another question"}).Resolved(t)

	// Its conversation is open: the next start resumes it, with a new token
	// and its newest seq; nothing new is created.
	before := countChats(t, gw)
	again := start(guest, map[string]any{"identityToken": second.IdentityToken, "nickname": "Pia"})
	c2, _ = gw.Store().Chat(ctx, second.ChatID)
	if !again.Resumed || again.ChatID != second.ChatID || again.Token == second.Token || again.Seq != c2.LastSeq || again.ParticipantID != first.ParticipantID {
		t.Fatalf("resume of the open conversation: %+v (chat at seq %d)", again, c2.LastSeq)
	}
	if got := countChats(t, gw); got != before {
		t.Fatalf("a resume started %d chats", got-before)
	}
	msgs := transcript(t, guest.WithToken(again.Token))
	if last := msgs[len(msgs)-1]; last.Text != "another question" {
		t.Fatalf("the resumed token reads %+v", last)
	}

	// newConversation still starts another, marked as the identity's own.
	third := start(guest, map[string]any{"identityToken": kept, "newConversation": true})
	if third.Resumed || third.ChatID == second.ChatID || third.ParticipantID != first.ParticipantID {
		t.Fatalf("newConversation with the kept identity: %+v", third)
	}
	c3, _ := gw.Store().Chat(ctx, third.ChatID)
	var ud map[string]any
	_ = json.Unmarshal(c3.UserData, &ud)
	if !c3.IdentityInitiated || ud["identity_initiated_thread"] != true {
		t.Fatalf("newConversation: identityInitiated %v, userData %s", c3.IdentityInitiated, c3.UserData)
	}
	// With two open, the one with the latest activity is resumed. Routing
	// gives the third to the agent first: its join is activity too, and it
	// must not land on the same instant as the message below.
	active(third.ChatID)
	clk.Add(time.Minute)
	guest.WithToken(second.Token).Command("WebChatService.sendMessage", map[string]string{"message": "latest"}).Resolved(t)
	if r := start(guest, map[string]any{"identityToken": kept}); !r.Resumed || r.ChatID != second.ChatID {
		t.Fatalf("with two open conversations: %+v, want %s resumed", r, second.ChatID)
	}

	// Credentials that do not name the identity: a new anonymous visitor
	// that reaches none of its conversations.
	var sess struct {
		SessionData string `json:"sessionData"`
	}
	guest.WithToken(second.Token).Command("WebChatService.getSessionData", nil).Into(t, &sess)
	strangers := map[string]*wiretest.HTTP{
		"forged":       guest,
		"session data": guest,
		"garbage":      guest,
		"foreign":      wiretest.NewHTTP(t, gw.URL).WithDeployment("async-b"),
	}
	tokens := map[string]string{"forged": kept[:len(kept)-4] + "AAAA", "session data": sess.SessionData, "garbage": "x.y.z", "foreign": kept}
	for name, g := range strangers {
		r := start(g, map[string]any{"identityToken": tokens[name]})
		if r.Resumed || r.ParticipantID == first.ParticipantID || r.IdentityToken == "" {
			t.Errorf("%s identity token: %+v", name, r)
		}
		if got := listed(r.Token); len(got) != 1 || got[0] != r.ChatID {
			t.Errorf("%s identity token lists %v", name, got)
		}
	}
	// A live deployment neither issues nor honours one.
	live := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	if r := start(live, map[string]any{"identityToken": kept}); r.IdentityToken != "" || r.Resumed || r.ParticipantID == first.ParticipantID {
		t.Errorf("live deployment: %+v", r)
	}
	// An expired one: 400 days later.
	clk.Add(401 * 24 * time.Hour)
	if r := start(guest, map[string]any{"identityToken": kept}); r.Resumed || r.ParticipantID == first.ParticipantID {
		t.Errorf("expired identity token: %+v", r)
	}
}

// TestCompanyIdentityResumes: a company uuid with an open conversation on an
// asynchronous deployment that takes unsigned uuids resumes it; no identity
// token is issued for a company identity.
func TestCompanyIdentityResumes(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: withUnsignedUUID()})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var a, b startAnswer
	guest.Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"uuid": "crm-77"}}).Into(t, &a)
	guest.WithToken(a.Token).Command("WebChatService.sendMessage", map[string]string{"message": "hello"}).Resolved(t)
	guest.Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"uuid": "crm-77", "email": "kim@example.com"}}).Into(t, &b)
	if a.IdentityToken != "" || b.IdentityToken != "" {
		t.Errorf("a company identity got an identity token: %q %q", a.IdentityToken, b.IdentityToken)
	}
	if a.Resumed || !b.Resumed || b.ChatID != a.ChatID || b.Seq < 2 {
		t.Fatalf("second start of crm-77: %+v (first %+v)", b, a)
	}
	c, _ := gw.Store().Chat(context.Background(), a.ChatID)
	idn, _ := gw.Store().Identity(context.Background(), c.IdentityID)
	if idn.Profile.Email != "kim@example.com" {
		t.Errorf("the resumed identity's profile: %+v", idn.Profile)
	}
	// A live deployment is unchanged: every start is a new chat.
	live := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var l1, l2 startAnswer
	live.Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"uuid": "crm-77"}}).Into(t, &l1)
	live.Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"uuid": "crm-77"}}).Into(t, &l2)
	if l1.ChatID == l2.ChatID || l2.Resumed {
		t.Fatalf("live deployment: %+v then %+v", l1, l2)
	}
}
