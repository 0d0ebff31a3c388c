package webchat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// clock is a settable time source for the engine.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// storedTypes lists the types of a chat's stored events, in seq order.
func storedTypes(t *testing.T, gw *servertest.Gateway, chatID string) []string {
	t.Helper()
	evs, err := gw.Store().EventsAfter(context.Background(), chatID, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("stored seq %d at position %d", ev.Seq, i+1)
		}
		out = append(out, string(ev.Type))
	}
	return out
}

func count(list []string, v model.EventType) int {
	n := 0
	for _, x := range list {
		if x == string(v) {
			n++
		}
	}
	return n
}

// TestAsyncConversationOverThreeDays drives one asynchronous conversation
// over three days of injected time: threads open and close with inactivity,
// the agent's intervention is resolved without ending the conversation, the
// agent answers while the visitor is away, and the visitor returns on a second
// device through session data, pages through all history, and receives the
// replies it missed exactly once.
func TestAsyncConversationOverThreeDays(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	gw := servertest.Start(t, servertest.Options{Now: clk.Now})
	ctx := context.Background()
	agent := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	agent.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)

	// Day 1, device 1: the visitor starts and writes; Ann is routed the chat.
	dev1 := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var st started
	dev1.Command("WebChatService.startChat", map[string]any{"nickname": "Mia"}).Into(t, &st)
	if st.Mode != "async" {
		t.Fatalf("mode = %q, want async", st.Mode)
	}
	dev1 = dev1.WithToken(st.Token)
	dev1.Command("WebChatService.sendMessage", map[string]string{"message": "My parcel is late"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, st.ChatID)
		return c.State == model.StateActive
	})
	agent.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": "Checking with the carrier"}).Resolved(t)

	// The visitor cannot end an asynchronous conversation.
	rej := dev1.Command("WebChatService.endChat", nil).Rejected(t)
	if rej.Code != "async_no_end" {
		t.Fatalf("endChat in async: %+v", rej)
	}

	// 45 minutes of silence close the thread; the next message opens thread 2.
	clk.Add(45 * time.Minute)
	gw.Engine().SweepIdle(ctx)
	dev1.Command("WebChatService.sendMessage", map[string]string{"message": "Any news?"}).Resolved(t)
	types := storedTypes(t, gw, st.ChatID)
	if got := count(types, model.EventThreadOpened); got != 2 {
		t.Fatalf("threads opened = %d, want 2: %v", got, types)
	}
	if got := count(types, model.EventThreadClosed); got != 1 {
		t.Fatalf("threads closed = %d, want 1: %v", got, types)
	}

	// Ann resolves her intervention: the conversation stays open and idle.
	agent.Command("AgentService.resolveChat", map[string]string{"chatId": st.ChatID, "disposition": "waiting-carrier"}).Resolved(t)
	c, _ := gw.Store().Chat(ctx, st.ChatID)
	if c.State != model.StateIdle {
		t.Fatalf("after resolve: state %q, want idle", c.State)
	}
	var sess struct {
		SessionData string `json:"sessionData"`
		Seq         uint64 `json:"seq"`
	}
	dev1.Command("WebChatService.getSessionData", nil).Into(t, &sess)
	if sess.SessionData == "" {
		t.Fatal("getSessionData gave no sessionData in async mode")
	}

	// Day 2: the visitor writes once more and leaves; Ann is routed the
	// conversation again and answers twice while the visitor is away.
	clk.Add(24 * time.Hour)
	gw.Engine().SweepIdle(ctx)
	dev1.Command("WebChatService.sendMessage", map[string]string{"message": "Still nothing arrived"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, st.ChatID)
		return c.State == model.StateActive
	})
	var mark struct{ Read uint64 }
	dev1.Command("WebChatService.markRead", nil).Into(t, &mark)
	seenOnDevice1 := mark.Read
	for _, text := range []string{"The carrier found it", "It arrives tomorrow"} {
		agent.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": text}).Resolved(t)
	}

	// Day 3, device 2: the visitor comes back through session data.
	clk.Add(24 * time.Hour)
	gw.Engine().SweepIdle(ctx)
	dev2 := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var restored struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
		Async  bool   `json:"async"`
		Seq    uint64 `json:"seq"`
		Read   uint64 `json:"read"`
	}
	dev2.Command("WebChatService.restore", map[string]string{"sessionData": sess.SessionData}).Into(t, &restored)
	if restored.ChatID != st.ChatID || restored.Token == "" || !restored.Async {
		t.Fatalf("restore on device 2: %+v", restored)
	}
	// Device 2 knows only what restore tells it: the visitor's read mark.
	if restored.Read != seenOnDevice1 {
		t.Fatalf("restore: read = %d, want device 1's mark %d", restored.Read, seenOnDevice1)
	}
	dev2 = dev2.WithToken(restored.Token)

	// The conversation list counts the two replies as unread.
	var list struct {
		Conversations []struct {
			ChatID      string `json:"chatId"`
			Unread      int    `json:"unread"`
			LastMessage struct{ Text string }
		} `json:"conversations"`
	}
	dev2.Command("WebChatService.listConversations", nil).Into(t, &list)
	if len(list.Conversations) != 1 || list.Conversations[0].Unread != 2 ||
		list.Conversations[0].LastMessage.Text != "It arrives tomorrow" {
		t.Fatalf("conversations on return: %+v", list.Conversations)
	}

	// The replies sent while away arrive once, resuming from the read mark.
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(restored.Token, restored.Read)
	var missed []string
	sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		if ev.Name == "WebChatService.messageReceived" {
			for _, m := range ev.Messages(t) {
				if m.Type == "Message" {
					missed = append(missed, m.Text)
				}
			}
		}
		return len(missed) >= 2
	})
	if len(missed) != 2 || missed[0] != "The carrier found it" || missed[1] != "It arrives tomorrow" {
		t.Fatalf("replies received on return: %q, want the two sent while away, once each", missed)
	}
	if ev, ok := sock.Next(300 * time.Millisecond); ok && ev.Seq != 0 {
		t.Fatalf("unexpected event after catching up: %v", ev)
	}
	dev2.Command("WebChatService.markRead", nil).Resolved(t)
	dev2.Command("WebChatService.listConversations", nil).Into(t, &list)
	if list.Conversations[0].Unread != 0 {
		t.Fatalf("unread after markRead = %d", list.Conversations[0].Unread)
	}

	// All history, by pages of 4, newest page first, then "No more messages".
	var history []string
	var before uint64
	for page := 0; ; page++ {
		r := dev2.Command("WebChatService.fetchHistory", map[string]any{"before": before, "limit": 4})
		if r.Status == "rejected" {
			if r.Error.Message != "No more messages to fetch." {
				t.Fatalf("fetchHistory end: %+v", r.Error)
			}
			break
		}
		var h struct {
			Messages []wiretest.Message `json:"messages"`
			Oldest   uint64             `json:"oldest"`
		}
		r.Into(t, &h)
		var texts []string
		for _, m := range h.Messages {
			if m.Type == "Message" {
				texts = append(texts, m.Text)
			}
		}
		history = append(texts, history...)
		before = h.Oldest
		if page > 20 {
			t.Fatal("fetchHistory does not end")
		}
	}
	want := []string{"My parcel is late", "Checking with the carrier", "Any news?", "Still nothing arrived",
		"The carrier found it", "It arrives tomorrow"}
	if len(history) != len(want) {
		t.Fatalf("history = %q, want %q", history, want)
	}
	for i := range want {
		if history[i] != want[i] {
			t.Fatalf("history = %q, want %q", history, want)
		}
	}

	// Locked conversations refuse the visitor; unlocked ones accept again.
	agent.Command("AgentService.lockChat", map[string]string{"chatId": st.ChatID}).Resolved(t)
	if rej := dev2.Command("WebChatService.sendMessage", map[string]string{"message": "hello?"}).Rejected(t); rej.Code != "chat_locked" {
		t.Fatalf("message to a locked conversation: %+v", rej)
	}
	agent.Command("AgentService.unlockChat", map[string]string{"chatId": st.ChatID}).Resolved(t)
	dev2.Command("WebChatService.sendMessage", map[string]string{"message": "thanks!"}).Resolved(t)

	// A new conversation of the same identity carries identity_initiated_thread.
	var second started
	dev2.Command("WebChatService.startChat", map[string]any{"newConversation": true}).Into(t, &second)
	c2, err := gw.Store().Chat(ctx, second.ChatID)
	if err != nil {
		t.Fatal(err)
	}
	var ud map[string]any
	_ = json.Unmarshal(c2.UserData, &ud)
	if c2.IdentityID != c.IdentityID || ud["identity_initiated_thread"] != true {
		t.Fatalf("new conversation: identity %q (want %q), userData %s", c2.IdentityID, c.IdentityID, c2.UserData)
	}
	dev2.Command("WebChatService.listConversations", nil).Into(t, &list)
	if len(list.Conversations) != 2 {
		t.Fatalf("conversations after starting a second: %d", len(list.Conversations))
	}

	// Several threads opened and closed over the three days, each boundary an
	// event of the log; exactly one is open now.
	types = storedTypes(t, gw, st.ChatID)
	if opened, closed := count(types, model.EventThreadOpened), count(types, model.EventThreadClosed); opened != 4 || closed != 3 {
		t.Fatalf("threads opened %d, closed %d over three days, want 4 and 3: %v", opened, closed, types)
	}

	// Session data older than its lifetime, or forged, restores nothing; the
	// conversation itself never ends on its own.
	clk.Add(31 * 24 * time.Hour)
	gw.Engine().SweepIdle(ctx)
	if c, _ := gw.Store().Chat(ctx, st.ChatID); c.State == model.StateEnded {
		t.Fatalf("the asynchronous conversation ended on its own after a month of silence")
	}
	if rej := dev2.WithToken("").Command("WebChatService.restore", map[string]string{"sessionData": sess.SessionData}).Rejected(t); rej.Code != "restore_failed" {
		t.Fatalf("expired session data: %+v", rej)
	}
	forged := sess.SessionData[:len(sess.SessionData)-4] + "AAAA"
	if rej := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async").Command("WebChatService.restore", map[string]string{"sessionData": forged}).Rejected(t); rej.Code != "restore_failed" || rej.Message != "No chat session found to restore." {
		t.Fatalf("forged session data: %+v", rej)
	}
}

// signedSecret is the JWT secret of signedGateway's "signed" deployment.
const signedSecret = "a-test-secret-of-32-bytes-length"

// signedGateway starts the demo setup plus an async deployment "signed"
// with identity: signed, on an injected clock, and returns a signer of
// identity JWTs (key, subject, expiry).
func signedGateway(t *testing.T) (*servertest.Gateway, *clock, func(key, sub string, exp time.Time) string) {
	t.Helper()
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	cfg := config.Demo()
	cfg.Deployments = append(cfg.Deployments, config.Deployment{Key: "signed", Mode: config.ModeAsync, Queue: "support",
		Origins: []string{"*"}, Identity: config.IdentitySigned, JWTSecret: signedSecret})
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Now: clk.Now})
	sign := func(key, sub string, exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: sub, Audience: jwt.ClaimStrings{"signed"}, ExpiresAt: jwt.NewNumericDate(exp)}).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return gw, clk, sign
}

// TestSignedIdentities covers a deployment with identity: signed: a valid
// signature starts a chat under the company uuid (and a second device with
// the same uuid shares its identity and resumes its open conversation), while
// a forged, expired or missing one is rejected before any chat starts.
func TestSignedIdentities(t *testing.T) {
	const secret = signedSecret
	gw, clk, sign := signedGateway(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("signed")
	start := func(identity any) wiretest.Reply {
		return guest.Command("WebChatService.startChat", map[string]any{"nickname": "Lea", "identity": identity})
	}
	cases := []struct {
		name     string
		identity any
		code     string
	}{
		{"missing", nil, "identity_required"},
		{"uuid without signature", map[string]string{"uuid": "cust-42"}, "identity_required"},
		{"forged", map[string]string{"jwt": sign("not-the-secret-at-all-0123456789", "cust-42", clk.Now().Add(time.Hour))}, "identity_invalid"},
		{"expired", map[string]string{"jwt": sign(secret, "cust-42", clk.Now().Add(-time.Hour))}, "identity_expired"},
		{"garbage", map[string]string{"jwt": "not.a.jwt"}, "identity_invalid"},
		{"uuid differs from signature", map[string]string{"uuid": "cust-7", "jwt": sign(secret, "cust-42", clk.Now().Add(time.Hour))}, "identity_invalid"},
	}
	before := countChats(t, gw)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := start(tc.identity)
			rej := r.Rejected(t)
			if rej.Code != tc.code || r.HTTPStatus != 401 {
				t.Fatalf("got HTTP %d %+v, want 401 %s", r.HTTPStatus, rej, tc.code)
			}
		})
	}
	// Nothing else stands in for the signature: not an anonymous identity
	// token, not session data.
	for _, opt := range []string{"identityToken", "sessionData"} {
		r := guest.Command("WebChatService.startChat", map[string]any{opt: sign(secret, "cust-42", clk.Now().Add(time.Hour))})
		if rej := r.Rejected(t); rej.Code != "identity_required" || r.HTTPStatus != 401 {
			t.Fatalf("%s without identity.jwt: HTTP %d %+v", opt, r.HTTPStatus, rej)
		}
	}
	if got := countChats(t, gw); got != before {
		t.Fatalf("rejected identities started %d chats", got-before)
	}

	valid := map[string]string{"jwt": sign(secret, "cust-42", clk.Now().Add(time.Hour)), "email": "lea@example.com"}
	var a, b startAnswer
	start(valid).Into(t, &a)
	// Another device of the same customer: the same identity, whose open
	// conversation it resumes (messaging mode), with a token of its own.
	start(valid).Into(t, &b)
	resumed := b
	if !b.Resumed || b.ChatID != a.ChatID || b.Token == a.Token || b.IdentityToken != "" {
		t.Fatalf("the second device of cust-42: %+v (first %+v)", b, a)
	}
	// A new conversation on request, still the same identity.
	b = startAnswer{}
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Lea", "identity": valid, "newConversation": true}).Into(t, &b)
	ca, _ := gw.Store().Chat(context.Background(), a.ChatID)
	cb, _ := gw.Store().Chat(context.Background(), b.ChatID)
	if b.Resumed || b.ChatID == a.ChatID || b.ChatID == resumed.ChatID || ca.IdentityID == "" || ca.IdentityID != cb.IdentityID {
		t.Fatalf("two conversations of one uuid: %+v, identities %q and %q", b, ca.IdentityID, cb.IdentityID)
	}
	idn, err := gw.Store().Identity(context.Background(), ca.IdentityID)
	if err != nil || idn.UUID != "cust-42" || !idn.Signed || idn.Profile.Email != "lea@example.com" {
		t.Fatalf("identity = %+v, %v", idn, err)
	}
	var list struct {
		Conversations []json.RawMessage `json:"conversations"`
	}
	wiretest.NewHTTP(t, gw.URL).WithToken(b.Token).Command("WebChatService.listConversations", nil).Into(t, &list)
	if len(list.Conversations) != 2 {
		t.Fatalf("the second device lists %d conversations, want both: %s", len(list.Conversations), list.Conversations)
	}
}

func countChats(t *testing.T, gw *servertest.Gateway) int {
	t.Helper()
	n := 0
	if err := gw.Store().OpenChats(context.Background(), func(model.Chat) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIdentifyMidChat checks the two cases of logging in during a chat: new
// profile fields keep the conversation; another company uuid starts a new one
// (on a deployment that takes unsigned uuids).
func TestIdentifyMidChat(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: withUnsignedUUID()})
	v := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var st started
	v.Command("WebChatService.startChat", map[string]any{}).Into(t, &st)
	v = v.WithToken(st.Token)
	var same struct {
		NewChat bool   `json:"newChat"`
		ChatID  string `json:"chatId"`
	}
	v.Command("WebChatService.identify", map[string]any{"firstname": "Noah", "email": "noah@example.com", "extra": map[string]any{"plan": "gold"}}).Into(t, &same)
	if same.NewChat || same.ChatID != st.ChatID {
		t.Fatalf("profile update started a new chat: %+v", same)
	}
	c, _ := gw.Store().Chat(context.Background(), st.ChatID)
	idn, _ := gw.Store().Identity(context.Background(), c.IdentityID)
	if c.Visitor.Email != "noah@example.com" || idn.Profile.Firstname != "Noah" || len(idn.Extra) == 0 {
		t.Fatalf("after identify: chat visitor %+v, identity %+v", c.Visitor, idn)
	}
	var other struct {
		NewChat bool   `json:"newChat"`
		ChatID  string `json:"chatId"`
		Token   string `json:"token"`
	}
	v.Command("WebChatService.identify", map[string]any{"uuid": "crm-1001"}).Into(t, &other)
	if !other.NewChat || other.ChatID == st.ChatID || other.Token == "" {
		t.Fatalf("identifying as a company uuid: %+v", other)
	}
}

// TestDeletedDeploymentChatsStillIdle: the chats open on a deployment that an
// admin deletes keep their lifecycle on the default timers: the live chat
// idle-ends after 24 hours of silence (not before), the asynchronous
// conversation's thread closes after 30 minutes.
func TestDeletedDeploymentChatsStillIdle(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	gw := servertest.Start(t, servertest.Options{Now: clk.Now})
	ctx := context.Background()
	startOn := func(deployment string) string {
		var st started
		v := wiretest.NewHTTP(t, gw.URL).WithDeployment(deployment)
		v.Command("WebChatService.startChat", map[string]any{"nickname": "Kit"}).Into(t, &st)
		v.WithToken(st.Token).Command("WebChatService.sendMessage", map[string]string{"message": "hello"}).Resolved(t)
		return st.ChatID
	}
	live, async := startOn("demo"), startOn("demo-async")

	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	for _, key := range []string{"demo", "demo-async"} {
		req, err := http.NewRequest(http.MethodDelete, gw.URL+"/v1/admin/deployments/"+key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := admin.Send(req); resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE deployment %s: HTTP %d %s", key, resp.StatusCode, body)
		}
	}

	clk.Add(time.Hour)
	gw.Engine().SweepIdle(ctx)
	if c, _ := gw.Store().Chat(ctx, live); c.State == model.StateEnded {
		t.Fatal("the live chat ended after one quiet hour")
	}
	if got := count(storedTypes(t, gw, async), model.EventThreadClosed); got != 1 {
		t.Fatalf("async threads closed after an hour = %d, want 1", got)
	}

	clk.Add(24 * time.Hour)
	gw.Engine().SweepIdle(ctx)
	if c, _ := gw.Store().Chat(ctx, live); c.State != model.StateEnded {
		t.Fatalf("the live chat of a deleted deployment after 25 quiet hours: state %q, want ended", c.State)
	}
}

// TestDormantConversationLeavesTheView: an asynchronous conversation between
// threads with no agent in it is not kept in the engine's memory; the
// visitor may still type and write, and writing brings it back and routes it.
func TestDormantConversationLeavesTheView(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	gw := servertest.Start(t, servertest.Options{Now: clk.Now})
	ctx := context.Background()
	agent := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	agent.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)

	v := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var st started
	v.Command("WebChatService.startChat", map[string]any{"nickname": "Dee"}).Into(t, &st)
	v = v.WithToken(st.Token)
	v.Command("WebChatService.sendMessage", map[string]string{"message": "Is my order shipped?"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, st.ChatID)
		return c.State == model.StateActive
	})
	agent.Command("AgentService.resolveChat", map[string]string{"chatId": st.ChatID, "disposition": "answered"}).Resolved(t)
	if _, ok := gw.Engine().OpenChat(st.ChatID); !ok {
		t.Fatal("the conversation left the view while its thread is open")
	}

	clk.Add(45 * time.Minute)
	gw.Engine().SweepIdle(ctx)
	if c, ok := gw.Engine().OpenChat(st.ChatID); ok {
		t.Fatalf("a dormant conversation is still in the view: %+v", c)
	}
	v.Command("WebChatService.sendTyping", map[string]any{"isTyping": true}).Resolved(t)

	v.Command("WebChatService.sendMessage", map[string]string{"message": "Hello again"}).Resolved(t)
	if _, ok := gw.Engine().OpenChat(st.ChatID); !ok {
		t.Fatal("writing did not bring the conversation back into the view")
	}
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, st.ChatID)
		return c.State == model.StateActive
	})
}
