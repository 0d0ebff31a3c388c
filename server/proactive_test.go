package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/plugins/webhooks"
	"github.com/cxgate/cxgate/server/servertest"
)

// hookSink is a real webhook receiver that verifies signatures and keeps the
// bodies by event name.
type hookSink struct {
	t      *testing.T
	URL    string
	down   *atomic.Bool // when set and true, every request is answered 503
	mu     sync.Mutex
	bodies map[string][]json.RawMessage
}

func newHookSink(t *testing.T) *hookSink {
	h := &hookSink{t: t, bodies: map[string][]json.RawMessage{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if h.down != nil && h.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := webhooks.Verify("sink-secret", r.Header, b, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.mu.Lock()
		ev := r.Header.Get(webhooks.HeaderEvent)
		h.bodies[ev] = append(h.bodies[ev], b)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *hookSink) wait(event string) json.RawMessage {
	h.t.Helper()
	var b json.RawMessage
	wiretest.WaitFor(h.t, 10*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.bodies[event]) > 0 {
			b = h.bodies[event][0]
			return true
		}
		return false
	})
	return b
}

// TestLeftMessages: an offline visitor leaves a message; agents hear of it
// on their stream and list it; one answers; webhooks announce both; the
// visitor, back with its identity token, reads the answer.
func TestLeftMessages(t *testing.T) {
	sink := newHookSink(t)
	cfg := proactiveConfig(t)
	cfg.Webhooks = []config.Webhook{{ID: "site", URL: sink.URL + "/hook", Secret: "sink-secret",
		Events: []string{"message.left", "message.answered"}}}
	gw := servertest.Start(t, servertest.Options{Config: cfg})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-secret", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "away"}).Resolved(t)

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("shop")
	var left struct {
		ID, IdentityToken string
		CreatedAt         int64
	}
	guest.Command("WebChatService.leaveMessage", map[string]any{"name": "Ida", "email": "ida@example.com",
		"message": "Do you ship to Norway?", "context": map[string]any{"pages": []any{map[string]any{"title": "Cart", "url": "http://shop.test/cart", "at": 1}},
			"variables": map[string]any{"cart_amount": 120}, "visits": 2, "pageViews": 5}}).Into(t, &left)
	if left.ID == "" || left.IdentityToken == "" {
		t.Fatalf("leaveMessage = %+v", left)
	}

	var announced struct {
		Message struct {
			ID, Name, Email, Message, Deployment string
			Context                              struct{ Variables map[string]any }
		}
	}
	evs := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.messageLeft" })
	wiretest.Decode(t, evs[len(evs)-1].Data, &announced)
	if m := announced.Message; m.ID != left.ID || m.Name != "Ida" || m.Email != "ida@example.com" || m.Deployment != "shop" ||
		m.Context.Variables["cart_amount"] != float64(120) {
		t.Fatalf("messageLeft = %+v", announced)
	}

	type listed struct {
		Open, Answered []struct {
			ID, Message string
			Answer      *struct{ Text, AgentName string }
		}
	}
	var l listed
	ann.Command("AgentService.listMessages", nil).Into(t, &l)
	if len(l.Open) != 1 || l.Open[0].ID != left.ID || len(l.Answered) != 0 {
		t.Fatalf("listMessages = %+v", l)
	}

	// The visitor's list, before and after the answer.
	var mine struct {
		Messages []struct {
			ID, Message string
			Answer      *struct {
				Text, AgentName string
				AnsweredAt      int64
			}
		}
	}
	guest.Command("WebChatService.listLeftMessages", map[string]any{"identityToken": left.IdentityToken}).Into(t, &mine)
	if len(mine.Messages) != 1 || mine.Messages[0].Answer != nil {
		t.Fatalf("listLeftMessages before the answer = %+v", mine)
	}
	ann.Command("AgentService.answerMessage", map[string]any{"id": left.ID, "message": "Yes, in 3 days."}).Resolved(t)
	if e := ann.Command("AgentService.answerMessage", map[string]any{"id": left.ID, "message": "Again"}).Rejected(t); e.Code != "already_answered" {
		t.Errorf("second answer: %+v", e)
	}
	if e := ann.Command("AgentService.answerMessage", map[string]any{"id": "nope", "message": "x"}).Rejected(t); e.Code != "message_not_found" {
		t.Errorf("unknown id: %+v", e)
	}
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.messageAnswered" })
	ann.Command("AgentService.listMessages", nil).Into(t, &l)
	if len(l.Open) != 0 || len(l.Answered) != 1 || l.Answered[0].Answer == nil || l.Answered[0].Answer.AgentName != "Ann" {
		t.Fatalf("listMessages after the answer = %+v", l)
	}
	guest.Command("WebChatService.listLeftMessages", map[string]any{"identityToken": left.IdentityToken}).Into(t, &mine)
	if len(mine.Messages) != 1 || mine.Messages[0].Answer == nil || mine.Messages[0].Answer.Text != "Yes, in 3 days." ||
		mine.Messages[0].Answer.AgentName != "Ann" {
		t.Fatalf("listLeftMessages after the answer = %+v", mine)
	}
	// Another browser (no token, a forged one) reads nothing.
	for _, tok := range []string{"", "forged", left.IdentityToken + "x"} {
		guest.Command("WebChatService.listLeftMessages", map[string]any{"identityToken": tok}).Into(t, &mine)
		if len(mine.Messages) != 0 {
			t.Errorf("listLeftMessages(%q) = %+v", tok, mine)
		}
	}
	// The kept identity leaves its next message as the same visitor.
	var again struct{ ID, IdentityToken string }
	guest.Command("WebChatService.leaveMessage", map[string]any{"message": "And to Sweden?", "identityToken": left.IdentityToken}).Into(t, &again)
	guest.Command("WebChatService.listLeftMessages", map[string]any{"identityToken": again.IdentityToken}).Into(t, &mine)
	if len(mine.Messages) != 2 || mine.Messages[1].ID != again.ID {
		t.Errorf("after a second message: %+v", mine)
	}

	var hookLeft, hookAnswered struct {
		ID, Event, Deployment string
		LeftMessage           struct {
			ID, Email, Message string
			Answer             *struct{ Text, AgentName string }
		}
	}
	wiretest.Decode(t, sink.wait("message.left"), &hookLeft)
	wiretest.Decode(t, sink.wait("message.answered"), &hookAnswered)
	if hookLeft.ID != left.ID+":message.left" || hookLeft.Deployment != "shop" || hookLeft.LeftMessage.Email != "ida@example.com" ||
		hookLeft.LeftMessage.Answer != nil {
		t.Errorf("message.left = %+v", hookLeft)
	}
	if hookAnswered.LeftMessage.ID != left.ID || hookAnswered.LeftMessage.Answer == nil ||
		hookAnswered.LeftMessage.Answer.Text != "Yes, in 3 days." || hookAnswered.LeftMessage.Answer.AgentName != "Ann" {
		t.Errorf("message.answered = %+v", hookAnswered)
	}
}

// TestLeaveMessage_Rejections: bad forms are refused with their codes, and
// one address may leave only a few messages in a row.
func TestLeaveMessage_Rejections(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: proactiveConfig(t)})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("shop")
	for _, tc := range []struct {
		name string
		opts map[string]any
		code string
	}{
		{"NoMessage", map[string]any{"email": "a@b.example"}, "no_message"},
		{"Blank", map[string]any{"message": "  "}, "no_message"},
		{"Email", map[string]any{"message": "hi", "email": "not an address"}, "invalid_email"},
		{"EmailWithName", map[string]any{"message": "hi", "email": "Ida <ida@example.com>"}, "invalid_email"},
		{"Long", map[string]any{"message": strings.Repeat("x", 4097)}, "message_too_long"},
		{"Name", map[string]any{"message": "hi", "name": strings.Repeat("n", 101)}, "invalid_request"},
		{"Context", map[string]any{"message": "hi", "context": map[string]any{"variables": map[string]any{"a": []int{1}}}}, "invalid_context"},
	} {
		if e := guest.Command("WebChatService.leaveMessage", tc.opts).Rejected(t); e.Code != tc.code {
			t.Errorf("%s: %+v, want %s", tc.name, e, tc.code)
		}
	}
	if e := wiretest.NewHTTP(t, gw.URL).WithDeployment("nope").Command("WebChatService.leaveMessage",
		map[string]any{"message": "hi"}).Rejected(t); e.Code != "unknown_deployment" {
		t.Errorf("unknown deployment: %+v", e)
	}
	for i := 0; i < 10; i++ {
		guest.Command("WebChatService.leaveMessage", map[string]any{"message": "hi"}).Resolved(t)
	}
	if e := guest.Command("WebChatService.leaveMessage", map[string]any{"message": "hi"}).Rejected(t); e.Code != "too_many_messages" {
		t.Errorf("eleventh message in a row: %+v", e)
	}
}

// TestUpdateContext: an engaged visitor's session data reaches its agent on
// the AgentService stream, each update, and getTranscript carries the
// latest; the visitor's own transcript and events show none of it.
func TestUpdateContext(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: proactiveConfig(t)})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-secret", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("shop")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Ida"}).Into(t, &st)
	v := guest.WithToken(st.Token)
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })

	type visit struct {
		Pages []struct {
			Title, URL string
			At         int64
		}
		Variables         map[string]any
		Visits, PageViews int
		TimeOnSite        int64
		Referrer          string
	}
	page := func(title, url string, at int64) map[string]any {
		return map[string]any{"title": title, "url": url, "at": at}
	}
	send := func(pages []any, vars map[string]any) {
		t.Helper()
		v.Command("WebChatService.updateContext", map[string]any{"context": map[string]any{"pages": pages, "variables": vars,
			"visits": 2, "pageViews": len(pages), "timeOnSite": 65000, "referrer": "https://search.example/?q=shoes", "extra": "dropped"}}).Resolved(t)
	}
	expect := func() visit {
		t.Helper()
		evs := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.contextUpdated" })
		var got struct {
			ChatID  string
			Context visit
		}
		wiretest.Decode(t, evs[len(evs)-1].Data, &got)
		if got.ChatID != st.ChatID {
			t.Fatalf("contextUpdated for %q", got.ChatID)
		}
		return got.Context
	}
	send([]any{page("Cart", "http://shop.test/cart", 1000)}, map[string]any{"cart_amount": 120})
	c := expect()
	if len(c.Pages) != 1 || c.Pages[0].URL != "http://shop.test/cart" || c.Variables["cart_amount"] != float64(120) ||
		c.Visits != 2 || c.TimeOnSite != 65000 || c.Referrer != "https://search.example/?q=shoes" {
		t.Fatalf("first context = %+v", c)
	}
	send([]any{page("Cart", "http://shop.test/cart", 1000), page("Checkout", "http://shop.test/checkout", 2000)},
		map[string]any{"cart_amount": 150, "logged_in": true})
	c = expect()
	if len(c.Pages) != 2 || c.Pages[1].Title != "Checkout" || c.Variables["logged_in"] != true {
		t.Fatalf("second context = %+v", c)
	}
	var tr struct {
		Messages []wiretest.Message
		Context  visit
	}
	ann.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Into(t, &tr)
	if len(tr.Context.Pages) != 2 || tr.Context.Variables["cart_amount"] != float64(150) {
		t.Errorf("getTranscript context = %+v", tr.Context)
	}
	var mine struct{ Messages []wiretest.Message }
	v.Command("WebChatService.getTranscript", nil).Into(t, &mine)
	for _, m := range mine.Messages {
		if strings.Contains(m.Type, "Context") {
			t.Errorf("the visitor's transcript shows %+v", m)
		}
	}

	// Bounds, and no chat: refused. bigVars is within every bound but the
	// total: 40 values of 450 characters.
	bigVars := map[string]any{}
	for i := range 40 {
		bigVars[fmt.Sprintf("v%d", i)] = strings.Repeat("x", 450)
	}
	many := make([]any, 21)
	for i := range many {
		many[i] = page("p", "http://shop.test/", int64(i))
	}
	for name, opts := range map[string]any{
		"Pages":     map[string]any{"context": map[string]any{"pages": many}},
		"Object":    map[string]any{"context": map[string]any{"variables": map[string]any{"x": map[string]any{}}}},
		"Huge":      map[string]any{"context": map[string]any{"variables": bigVars}},
		"NotObject": map[string]any{"context": "pages"},
	} {
		if e := v.Command("WebChatService.updateContext", opts).Rejected(t); e.Code != "invalid_context" {
			t.Errorf("%s: %+v", name, e)
		}
	}
	if e := guest.Command("WebChatService.updateContext", map[string]any{"context": map[string]any{}}).Rejected(t); e.Code != "no_active_session" {
		t.Errorf("without a chat: %+v", e)
	}
}

// fastHooks retries webhooks at once.
var fastHooks = webhooks.Options{BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAttempts: 1000}

// TestLeftMessages_Restart: a left message and its answer are durable, and
// the answer's webhook, pending while the receiver was down, is delivered by
// the next gateway on the same data directory.
func TestLeftMessages_Restart(t *testing.T) {
	dir := t.TempDir()
	var down atomic.Bool
	down.Store(true)
	sink := newHookSink(t)
	sink.down = &down
	cfg := proactiveConfig(t)
	cfg.Webhooks = []config.Webhook{{ID: "site", URL: sink.URL + "/hook", Secret: "sink-secret"}}
	var left struct{ ID, IdentityToken string }
	t.Run("Before", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: cfg, Webhooks: fastHooks})
		guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("shop")
		guest.Command("WebChatService.leaveMessage", map[string]any{"email": "ida@example.com", "message": "Still there?"}).Into(t, &left)
		wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.answerMessage",
			map[string]any{"id": left.ID, "message": "Yes."}).Resolved(t)
	})
	if t.Failed() {
		return
	}
	down.Store(false)
	gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: cfg, Webhooks: fastHooks})
	var l struct {
		Open, Answered []struct {
			ID     string
			Answer *struct{ Text string }
		}
	}
	wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.listMessages", nil).Into(t, &l)
	if len(l.Open) != 0 || len(l.Answered) != 1 || l.Answered[0].ID != left.ID || l.Answered[0].Answer.Text != "Yes." {
		t.Fatalf("after a restart: %+v", l)
	}
	var mine struct {
		Messages []struct{ Answer *struct{ Text string } }
	}
	wiretest.NewHTTP(t, gw.URL).WithDeployment("shop").Command("WebChatService.listLeftMessages",
		map[string]any{"identityToken": left.IdentityToken}).Into(t, &mine)
	if len(mine.Messages) != 1 || mine.Messages[0].Answer == nil {
		t.Fatalf("the visitor after a restart: %+v", mine)
	}
	var answered struct{ LeftMessage struct{ ID string } }
	wiretest.Decode(t, sink.wait("message.answered"), &answered)
	if answered.LeftMessage.ID != left.ID {
		t.Errorf("message.answered for %q", answered.LeftMessage.ID)
	}
}
