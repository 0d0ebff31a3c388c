package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webhooks"
	"github.com/cxgate/cxgate/server/servertest"
)

// received is one request the receiver answered.
type received struct {
	Webhook string // X-Cxgate-Webhook
	Secret  string // the secret its signature verified with
	Status  int
	Payload webhooks.Payload
}

// receiver is a real HTTP server on 127.0.0.1. Each subscription posts to
// its own path, /<webhook id>, signed with one of its secrets; the receiver
// verifies every request and fails the test on a bad one. It answers with
// the status set by setStatus (200 at first), or the one decide gives.
type receiver struct {
	t       testing.TB
	URL     string
	secrets map[string][]string // webhook id → secrets accepted; the first is the configured one
	status  atomic.Int32
	decide  func(secret string) int // set before the first request; nil: status

	mu       sync.Mutex
	requests []received
}

func newReceiver(t testing.TB, secrets map[string][]string) *receiver {
	t.Helper()
	r := &receiver{t: t, secrets: secrets}
	r.status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	if !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
		t.Fatalf("receiver at %s, want 127.0.0.1", r.URL)
	}
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("receiver: read body: %v", err)
		return
	}
	hook := strings.TrimPrefix(req.URL.Path, "/")
	secrets, ok := r.secrets[hook]
	if !ok {
		r.t.Errorf("receiver: request for unknown path %s", req.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	secret := ""
	for _, s := range secrets {
		if webhooks.Verify(s, req.Header, body, time.Now(), time.Minute) == nil {
			secret = s
		}
	}
	if secret == "" {
		r.t.Errorf("receiver: %s: %v (headers %v)", hook, webhooks.Verify(secrets[0], req.Header, body, time.Now(), time.Minute), req.Header)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p webhooks.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("receiver: decode %s: %v", body, err)
	}
	if got := req.Header.Get(webhooks.HeaderWebhook); got != hook {
		r.t.Errorf("receiver: %s header = %q on path %s", webhooks.HeaderWebhook, got, req.URL.Path)
	}
	if got := req.Header.Get(webhooks.HeaderDelivery); got != p.ID {
		r.t.Errorf("receiver: %s = %q, payload id %q", webhooks.HeaderDelivery, got, p.ID)
	}
	if got := req.Header.Get(webhooks.HeaderEvent); got != p.Event {
		r.t.Errorf("receiver: %s = %q, payload event %q", webhooks.HeaderEvent, got, p.Event)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("receiver: Content-Type %q", ct)
	}
	status := int(r.status.Load())
	if r.decide != nil {
		status = r.decide(secret)
	}
	r.mu.Lock()
	r.requests = append(r.requests, received{Webhook: hook, Secret: secret, Status: status, Payload: p})
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) setStatus(code int) { r.status.Store(int32(code)) }

// delivered returns the payloads webhook received with a 2xx answer, by
// event id.
func (r *receiver) delivered(webhook string) map[string]webhooks.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]webhooks.Payload{}
	for _, q := range r.requests {
		if q.Webhook == webhook && q.Status < 300 {
			out[q.Payload.ID] = q.Payload
		}
	}
	return out
}

// attempts counts the requests per "<webhook> <event id>", and the 2xx ones.
func (r *receiver) attempts() (all, ok map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	all, ok = map[string]int{}, map[string]int{}
	for _, q := range r.requests {
		k := q.Webhook + " " + q.Payload.ID
		all[k]++
		if q.Status < 300 {
			ok[k]++
		}
	}
	return all, ok
}

func (r *receiver) hook(id string, events ...string) config.Webhook {
	return config.Webhook{ID: id, URL: r.URL + "/" + id, Secret: r.secrets[id][0], Events: events}
}

// testConfig is the demo with Bob (an agent to transfer to), Sue (a
// supervisor who whispers) and the given webhooks.
func testConfig(hooks ...config.Webhook) *config.Config {
	c := config.Demo()
	c.Limits.RatePerIP, c.Limits.RatePerToken = -1, -1
	c.Agents = append(c.Agents,
		config.Agent{ID: "bob", Name: "Bob", Token: "bob-secret", MaxChats: 5},
		config.Agent{ID: "sue", Name: "Sue", Token: "sue-secret", MaxChats: 5, Supervisor: true})
	c.Webhooks = hooks
	return &c
}

// fast are delivery options for tests: quick retries, many attempts.
var fast = webhooks.Options{BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAttempts: 1000}

type started struct {
	ChatID string `json:"chatId"`
	Token  string `json:"token"`
}

// seqOf finds the seq of the single stored event of chatID that match
// accepts.
func seqOf(t testing.TB, gw *servertest.Gateway, chatID string, match func(model.Event) bool) uint64 {
	t.Helper()
	evs, err := gw.Engine().EventsAfter(context.Background(), chatID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, ev := range evs {
		if match(ev) {
			seqs = append(seqs, ev.Seq)
		}
	}
	if len(seqs) != 1 {
		t.Fatalf("chat %s: %d matching events (%v), want 1", chatID, len(seqs), seqs)
	}
	return seqs[0]
}

func ofType(typ model.EventType) func(model.Event) bool {
	return func(ev model.Event) bool { return ev.Type == typ }
}

func message(text string) func(model.Event) bool {
	return func(ev model.Event) bool { return ev.Type == model.EventMessage && ev.Text == text }
}

func waitState(t testing.TB, gw *servertest.Gateway, chatID string, state model.ChatState) {
	t.Helper()
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Engine().Chat(context.Background(), chatID)
		return c.State == state
	})
}

func pendingCount(t testing.TB, gw *servertest.Gateway) int {
	t.Helper()
	p, _, err := gw.Webhooks().Depth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// liveChat runs a live chat through every event a webhook can announce:
// start, messages both ways, an agent's internal note, a supervisor's
// whisper, a transfer, the end and the visitor's rating.
// It returns the expected event ids with their names.
func liveChat(t testing.TB, gw *servertest.Gateway) (chatID string, want map[string]string) {
	t.Helper()
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret")
	sue := wiretest.NewHTTP(t, gw.URL).WithToken("sue-secret")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	var st started
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Mia"}).Into(t, &st)
	visitor := wiretest.NewHTTP(t, gw.URL).WithToken(st.Token)
	waitState(t, gw, st.ChatID, model.StateActive)
	visitor.Command("WebChatService.sendMessage", map[string]string{"message": "hello"}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": "hi Mia"}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": st.ChatID, "message": "note: VIP customer", "internal": true}).Resolved(t)
	sue.Command("AgentService.joinChat", map[string]any{"chatId": st.ChatID, "silent": true}).Resolved(t)
	sue.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": "psst, offer the voucher"}).Resolved(t)
	bob.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	ann.Command("AgentService.transferChat", map[string]string{"chatId": st.ChatID, "agentId": "bob"}).Resolved(t)
	bob.Command("AgentService.endChat", map[string]string{"chatId": st.ChatID}).Resolved(t)
	visitor.Command("WebChatService.rateChat", map[string]any{"rating": 4, "comment": "thanks, Bob"}).Resolved(t)
	// Offline again, so that the next chats go to Ann.
	bob.Command("AgentService.setStatus", map[string]string{"status": "offline"}).Resolved(t)

	id := func(seq uint64, name string) string { return webhooks.EventID(st.ChatID, seq, name) }
	want = map[string]string{
		id(1, webhooks.EventChatStarted):                                                           webhooks.EventChatStarted,
		id(1, webhooks.EventThreadCreated):                                                         webhooks.EventThreadCreated,
		id(seqOf(t, gw, st.ChatID, message("hello")), webhooks.EventMessageCreated):                webhooks.EventMessageCreated,
		id(seqOf(t, gw, st.ChatID, message("hi Mia")), webhooks.EventMessageCreated):               webhooks.EventMessageCreated,
		id(seqOf(t, gw, st.ChatID, ofType(model.EventTransferred)), webhooks.EventChatTransferred): webhooks.EventChatTransferred,
		id(seqOf(t, gw, st.ChatID, ofType(model.EventChatEnded)), webhooks.EventChatEnded):         webhooks.EventChatEnded,
		id(seqOf(t, gw, st.ChatID, ofType(model.EventChatRated)), webhooks.EventChatRated):         webhooks.EventChatRated,
	}
	return st.ChatID, want
}

// asyncChat starts an async conversation whose first message opens thread 1,
// and whose agent resolves the intervention.
func asyncChat(t testing.TB, gw *servertest.Gateway) (chatID string, want map[string]string) {
	t.Helper()
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	var st started
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async").Command("WebChatService.startChat", map[string]any{"nickname": "Leo"}).Into(t, &st)
	visitor := wiretest.NewHTTP(t, gw.URL).WithToken(st.Token)
	visitor.Command("WebChatService.sendMessage", map[string]string{"message": "my parcel"}).Resolved(t)
	waitState(t, gw, st.ChatID, model.StateActive)
	ann.Command("AgentService.resolveChat", map[string]string{"chatId": st.ChatID, "disposition": "answered"}).Resolved(t)

	id := func(seq uint64, name string) string { return webhooks.EventID(st.ChatID, seq, name) }
	want = map[string]string{
		id(1, webhooks.EventChatStarted): webhooks.EventChatStarted,
		id(seqOf(t, gw, st.ChatID, ofType(model.EventThreadOpened)), webhooks.EventThreadCreated): webhooks.EventThreadCreated,
		id(seqOf(t, gw, st.ChatID, message("my parcel")), webhooks.EventMessageCreated):           webhooks.EventMessageCreated,
		id(seqOf(t, gw, st.ChatID, ofType(model.EventResolved)), webhooks.EventChatResolved):      webhooks.EventChatResolved,
	}
	return st.ChatID, want
}

// only keeps the entries of want whose event is one of names.
// leftMessage leaves a message on demo and has Ann answer it.
func leftMessage(t testing.TB, gw *servertest.Gateway) (id string, want map[string]string) {
	t.Helper()
	var left struct{ ID string }
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.leaveMessage",
		map[string]any{"message": "call me", "email": "mia@example.com"}).Into(t, &left)
	wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.answerMessage",
		map[string]any{"id": left.ID, "message": "done"}).Resolved(t)
	return left.ID, map[string]string{left.ID + ":message.left": webhooks.EventMessageLeft,
		left.ID + ":message.answered": webhooks.EventMessageAnswered}
}

func only(want map[string]string, names ...string) map[string]string {
	out := map[string]string{}
	for id, name := range want {
		if slices.Contains(names, name) {
			out[id] = name
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}

// waitDelivered waits until webhook has received every id of want, then
// until the outbox is empty, and checks that it received nothing else.
func waitDelivered(t testing.TB, gw *servertest.Gateway, r *receiver, webhook string, want map[string]string) map[string]webhooks.Payload {
	t.Helper()
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		got := r.delivered(webhook)
		for id := range want {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
	wiretest.WaitFor(t, 10*time.Second, func() bool { return pendingCount(t, gw) == 0 })
	got := r.delivered(webhook)
	if !slices.Equal(sortedKeys(got), sortedKeys(want)) {
		t.Fatalf("%s received\n%v\nwant\n%v", webhook, sortedKeys(got), sortedKeys(want))
	}
	for id, p := range got {
		if p.Event != want[id] {
			t.Errorf("%s: event %s is %q, want %q", webhook, id, p.Event, want[id])
		}
	}
	return got
}

// TestWebhooks_EveryEvent: every event type reaches a real receiver, signed,
// with its payload; each subscription receives exactly the events it lists.
func TestWebhooks_EveryEvent(t *testing.T) {
	r := newReceiver(t, map[string][]string{"all": {"secret-all"}, "messages": {"secret-msgs"}, "ends": {"secret-ends"}})
	gw := servertest.Start(t, servertest.Options{Webhooks: fast, Config: testConfig(
		r.hook("all"),
		r.hook("messages", webhooks.EventMessageCreated),
		r.hook("ends", webhooks.EventChatEnded, webhooks.EventChatResolved),
	)})
	liveID, live := liveChat(t, gw)
	asyncID, async := asyncChat(t, gw)
	leftID, left := leftMessage(t, gw)
	all := map[string]string{}
	maps.Copy(all, live)
	maps.Copy(all, async)
	maps.Copy(all, left)

	got := waitDelivered(t, gw, r, "all", all)
	waitDelivered(t, gw, r, "messages", only(all, webhooks.EventMessageCreated))
	waitDelivered(t, gw, r, "ends", only(all, webhooks.EventChatEnded, webhooks.EventChatResolved))
	for _, name := range webhooks.Events() {
		if name == webhooks.EventIdentityErased {
			continue // not a chat's: the erasure tests of plugins/lifecycle send it
		}
		if len(only(all, name)) == 0 {
			t.Errorf("no %s in the scenario", name)
		}
	}

	// Payloads.
	for id, p := range got {
		if strings.HasPrefix(id, leftID+":") {
			continue // checked in server's TestLeftMessages
		}
		wantChat, wantMode, wantDep := liveID, config.ModeLive, "demo"
		if strings.HasPrefix(id, asyncID+":") {
			wantChat, wantMode, wantDep = asyncID, config.ModeAsync, "demo-async"
		}
		if p.Chat.ID != wantChat || p.Chat.Mode != wantMode || p.Deployment != wantDep || p.Chat.Queue != "support" {
			t.Errorf("%s: chat %+v deployment %q", id, p.Chat, p.Deployment)
		}
		if p.CreatedAt <= 0 || time.Since(time.UnixMilli(p.CreatedAt)) > time.Minute {
			t.Errorf("%s: createdAt %d", id, p.CreatedAt)
		}
		if (p.Message != nil) != (p.Event == webhooks.EventMessageCreated) {
			t.Errorf("%s: message %+v", id, p.Message)
		}
		if wantMode == config.ModeAsync && p.Event != webhooks.EventChatStarted && p.Thread != 1 {
			t.Errorf("%s: thread %d, want 1", id, p.Thread)
		}
		if wantMode == config.ModeLive && p.Thread != 0 {
			t.Errorf("%s: thread %d in a live chat", id, p.Thread)
		}
		if p.Message != nil && (strings.Contains(p.Message.Text, "psst") || strings.Contains(p.Message.Text, "VIP")) {
			t.Errorf("a whisper or internal note was announced: %+v", p.Message)
		}
		switch p.Event {
		case webhooks.EventMessageCreated:
			if p.Message.Text == "hello" && (p.Message.From.Type != "Client" || p.Message.From.Name != "Mia") ||
				p.Message.Text == "hi Mia" && (p.Message.From.Type != "Agent" || p.Message.From.ParticipantID != "ann") {
				t.Errorf("%s: message %+v", id, p.Message)
			}
			if !strings.HasSuffix(id, fmt.Sprintf(":%d:%s", p.Message.Index, p.Event)) || p.Message.Type != string(model.EventMessage) {
				t.Errorf("%s: message index %d type %s", id, p.Message.Index, p.Message.Type)
			}
		case webhooks.EventChatTransferred:
			var d struct{ From, Agent string }
			if err := json.Unmarshal(p.Data, &d); err != nil || d.From != "ann" || d.Agent != "bob" {
				t.Errorf("%s: data %s", id, p.Data)
			}
		case webhooks.EventChatEnded:
			if p.Chat.State != model.StateEnded || !strings.Contains(string(p.Data), `"by":"agent"`) {
				t.Errorf("%s: state %s data %s", id, p.Chat.State, p.Data)
			}
		case webhooks.EventChatRated:
			var d struct {
				Rating  int
				Comment string
			}
			if err := json.Unmarshal(p.Data, &d); err != nil || d.Rating != 4 || d.Comment != "thanks, Bob" || p.Chat.State != model.StateEnded {
				t.Errorf("%s: state %s data %s", id, p.Chat.State, p.Data)
			}
		case webhooks.EventChatResolved:
			if !strings.Contains(string(p.Data), `"disposition":"answered"`) || p.Chat.State != model.StateIdle {
				t.Errorf("%s: state %s data %s", id, p.Chat.State, p.Data)
			}
		case webhooks.EventChatStarted:
			if p.Chat.State != model.StateQueued {
				t.Errorf("%s: state %s, want queued", id, p.Chat.State)
			}
		}
	}
	// Nothing failed, nothing was sent twice.
	attempts, _ := r.attempts()
	for k, n := range attempts {
		if n != 1 {
			t.Errorf("%s: %d requests, want 1", k, n)
		}
	}
	if st := gw.Webhooks().Stats(); st.Failed != 0 || st.Dead != 0 || st.Delivered != uint64(len(attempts)) {
		t.Errorf("stats %+v, want %d delivered", st, len(attempts))
	}
}

// TestWebhooks_ReceiverDownThenUp: a receiver that answers 503 for a while
// receives every event once it is up again, each after several attempts, and
// each exactly once with a 2xx.
func TestWebhooks_ReceiverDownThenUp(t *testing.T) {
	r := newReceiver(t, map[string][]string{"down": {"secret-down"}})
	r.setStatus(http.StatusServiceUnavailable)
	gw := servertest.Start(t, servertest.Options{Webhooks: fast, Config: testConfig(r.hook("down"))})
	_, want := liveChat(t, gw)

	// Down: every event is tried at least three times, and retried from the
	// outbox with its attempts counted.
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		all, _ := r.attempts()
		for id := range want {
			if all["down "+id] < 3 {
				return false
			}
		}
		return true
	})
	list, err := gw.Store().ListOutbox(context.Background(), model.OutboxPending, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("%d pending entries, want %d", len(list), len(want))
	}
	for _, e := range list {
		if e.Attempts < 2 || e.LastStatus != http.StatusServiceUnavailable || e.LastError != "HTTP 503" {
			t.Errorf("pending entry %+v", e)
		}
	}

	r.setStatus(http.StatusOK)
	waitDelivered(t, gw, r, "down", want)
	all, ok := r.attempts()
	for id := range want {
		k := "down " + id
		if ok[k] != 1 || all[k] < 4 {
			t.Errorf("%s: %d requests, %d answered 2xx; want ≥ 4 and 1", id, all[k], ok[k])
		}
	}
	if st := gw.Webhooks().Stats(); st.Delivered != uint64(len(want)) || st.Failed < uint64(3*len(want)) {
		t.Errorf("stats %+v", st)
	}
	resp, err := http.Get(gw.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, line := range []string{`cxgate_webhook_outbox{state="pending"} 0`, `cxgate_webhook_outbox{state="dead"} 0`,
		fmt.Sprintf("cxgate_webhook_delivered_total %d", len(want))} {
		if !strings.Contains(string(metrics), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestWebhooks_Restart: deliveries pending when the gateway stops are made by
// the next gateway on the same data directory.
func TestWebhooks_Restart(t *testing.T) {
	r := newReceiver(t, map[string][]string{"hook": {"secret-restart", "secret-down"}})
	// The receiver refuses whatever the first gateway signs, whenever it
	// arrives: a request that gateway abandoned at its shutdown may still
	// reach the handler after the second gateway started.
	r.decide = func(secret string) int {
		if secret == "secret-down" {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	dir := t.TempDir()
	down := testConfig(config.Webhook{ID: "hook", URL: r.URL + "/hook", Secret: "secret-down"})
	var want map[string]string
	t.Run("Down", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Webhooks: fast, Config: down})
		_, want = liveChat(t, gw)
		wiretest.WaitFor(t, 10*time.Second, func() bool {
			list, _ := gw.Store().ListOutbox(context.Background(), model.OutboxPending, 0, 100)
			for _, e := range list {
				if e.Attempts == 0 {
					return false
				}
			}
			return len(list) == len(want)
		})
		// The subtest's end shuts this gateway down with the deliveries pending.
	})
	if t.Failed() {
		return
	}

	// The next gateway keeps the stored subscription; its new secret makes
	// its own requests acceptable (the ones it signs before are refused
	// and retried).
	gw := servertest.Start(t, servertest.Options{DataDir: dir, Webhooks: fast, Config: down})
	next := *gw.Engine().Config()
	next.Webhooks = []config.Webhook{r.hook("hook")}
	if err := gw.Engine().SetConfig(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, gw, r, "hook", want)
	_, ok := r.attempts()
	for id := range want {
		if ok["hook "+id] != 1 {
			t.Errorf("%s delivered %d times, want 1", id, ok["hook "+id])
		}
	}
}

// deliveries is listDeliveries' answer.
type deliveries struct {
	State      string              `json:"state"`
	Deliveries []webhooks.Delivery `json:"deliveries"`
	Pending    int                 `json:"pending"`
	Dead       int                 `json:"dead"`
}

// TestWebhooks_DeadLetters: after MaxAttempts an entry is dead; the admin
// lists it and retries it, and it is delivered; only the admin may.
func TestWebhooks_DeadLetters(t *testing.T) {
	r := newReceiver(t, map[string][]string{"hook": {"secret-dead"}})
	r.setStatus(http.StatusInternalServerError)
	opts := webhooks.Options{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 3}
	gw := servertest.Start(t, servertest.Options{Webhooks: opts, Config: testConfig(r.hook("hook", webhooks.EventChatStarted))})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	list := func(state string) deliveries {
		var d deliveries
		admin.Command("WebhookService.listDeliveries", map[string]any{"state": state}).Into(t, &d)
		return d
	}
	startChat := func() string {
		var st started
		wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &st)
		return webhooks.EventID(st.ChatID, 1, webhooks.EventChatStarted)
	}

	first := startChat()
	wiretest.WaitFor(t, 10*time.Second, func() bool { return list("dead").Dead == 1 })
	d := list("dead")
	if len(d.Deliveries) != 1 || d.Pending != 0 || d.State != "dead" {
		t.Fatalf("dead list %+v", d)
	}
	e := d.Deliveries[0]
	if e.EventID != first || e.Attempts != 3 || e.LastStatus != 500 || e.LastError != "HTTP 500" || e.DeadAt == 0 ||
		e.State != "dead" || e.Subscription != "hook" || e.Event != webhooks.EventChatStarted {
		t.Errorf("dead delivery %+v", e)
	}
	var p webhooks.Payload
	if err := json.Unmarshal(e.Body, &p); err != nil || p.ID != first {
		t.Errorf("dead delivery body %s: %v", e.Body, err)
	}
	if all, _ := r.attempts(); all["hook "+first] != 3 {
		t.Errorf("%d requests before dead, want 3", all["hook "+first])
	}
	if n := len(list("pending").Deliveries); n != 0 {
		t.Errorf("%d pending, want 0", n)
	}

	// Only the admin lists and retries.
	for _, token := range []string{"ann-secret", ""} {
		c := wiretest.NewHTTP(t, gw.URL).WithToken(token)
		if token == "" {
			c = wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
		}
		for _, cmd := range []string{"listDeliveries", "retryDelivery", "retryAll"} {
			rep := c.Command("WebhookService."+cmd, map[string]any{"id": e.ID, "state": "dead"})
			if rej := rep.Rejected(t); rej.Code != "forbidden" || rep.HTTPStatus != http.StatusForbidden {
				t.Errorf("%s with token %q: HTTP %d %+v", cmd, token, rep.HTTPStatus, rej)
			}
		}
	}
	rep := admin.Command("WebhookService.retryDelivery", map[string]any{"id": 999999})
	if rej := rep.Rejected(t); rej.Code != "delivery_not_found" || rep.HTTPStatus != http.StatusNotFound {
		t.Errorf("retry of an unknown id: HTTP %d %+v", rep.HTTPStatus, rej)
	}
	if rej := admin.Command("WebhookService.listDeliveries", map[string]any{"state": "sent"}).Rejected(t); rej.Code != "invalid_request" {
		t.Errorf("list of an unknown state: %+v", rej)
	}

	// Up again: one retried by id (as a string, the way a URL path gives
	// it), then another dead one by retryAll.
	r.setStatus(http.StatusOK)
	var retried webhooks.Delivery
	admin.Command("WebhookService.retryDelivery", map[string]any{"id": fmt.Sprint(e.ID)}).Into(t, &retried)
	if retried.ID != e.ID || retried.State != "pending" || retried.Attempts != 0 {
		t.Errorf("retried %+v", retried)
	}
	waitDelivered(t, gw, r, "hook", map[string]string{first: webhooks.EventChatStarted})

	r.setStatus(http.StatusBadGateway)
	second := startChat()
	wiretest.WaitFor(t, 10*time.Second, func() bool { return list("dead").Dead == 1 })
	r.setStatus(http.StatusOK)
	var all struct{ Retried int }
	admin.Command("WebhookService.retryAll", map[string]any{"state": "dead"}).Into(t, &all)
	if all.Retried != 1 {
		t.Errorf("retryAll retried %d, want 1", all.Retried)
	}
	waitDelivered(t, gw, r, "hook", map[string]string{first: webhooks.EventChatStarted, second: webhooks.EventChatStarted})
	if d := list("dead"); d.Dead != 0 || len(d.Deliveries) != 0 {
		t.Errorf("dead after retries: %+v", d)
	}
}

// TestWebhooks_ConfigAtRunTime: the secret and URL are read when a request is
// sent, and a subscription removed meanwhile sends its entries to the dead
// letters instead of retrying them for ever.
func TestWebhooks_ConfigAtRunTime(t *testing.T) {
	r := newReceiver(t, map[string][]string{"hook": {"old-secret", "new-secret"}})
	r.setStatus(http.StatusServiceUnavailable)
	// Requests signed with the old secret are never accepted: delivery
	// succeeds only if the new one is read when a request is signed.
	r.decide = func(secret string) int {
		if secret != "new-secret" {
			return http.StatusServiceUnavailable
		}
		return int(r.status.Load())
	}
	cfg := testConfig(r.hook("hook", webhooks.EventChatStarted))
	gw := servertest.Start(t, servertest.Options{Webhooks: fast, Config: cfg})
	ctx := context.Background()
	var st started
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &st)
	id := webhooks.EventID(st.ChatID, 1, webhooks.EventChatStarted)
	wiretest.WaitFor(t, 10*time.Second, func() bool { all, _ := r.attempts(); return all["hook "+id] > 0 })

	// A new secret, and every event.
	next := *gw.Engine().Config()
	next.Webhooks = []config.Webhook{{ID: "hook", URL: r.URL + "/hook", Secret: "new-secret"}}
	if err := gw.Engine().SetConfig(ctx, next); err != nil {
		t.Fatal(err)
	}
	r.setStatus(http.StatusOK)
	waitDelivered(t, gw, r, "hook", map[string]string{id: webhooks.EventChatStarted})
	if _, ok := r.attempts(); ok["hook "+id] != 1 {
		t.Errorf("delivered %d times", ok["hook "+id])
	}

	// Removed while entries wait (chat.started and thread.created): they
	// die with the reason.
	r.setStatus(http.StatusServiceUnavailable)
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &st)
	wiretest.WaitFor(t, 10*time.Second, func() bool { return pendingCount(t, gw) == 2 })
	next.Webhooks = nil
	if err := gw.Engine().SetConfig(ctx, next); err != nil {
		t.Fatal(err)
	}
	wiretest.WaitFor(t, 10*time.Second, func() bool { _, dead, _ := gw.Webhooks().Depth(ctx); return dead == 2 })
	list, err := gw.Store().ListOutbox(ctx, model.OutboxDead, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if !strings.Contains(e.LastError, "no longer configured") {
			t.Errorf("dead entry %+v", e)
		}
	}
	// And no more entries are written for it.
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &st)
	if p := pendingCount(t, gw); p != 0 {
		t.Errorf("%d pending after the subscription was removed", p)
	}
}

// TestConfig_WebhookEvents: a webhook's events are checked against the names
// this package sends.
func TestConfig_WebhookEvents(t *testing.T) {
	if !slices.Equal(config.WebhookEvents(), webhooks.Events()) {
		t.Fatalf("config.WebhookEvents() = %v, webhooks.Events() = %v", config.WebhookEvents(), webhooks.Events())
	}
	c := testConfig(config.Webhook{URL: "http://127.0.0.1:9/h", Secret: "s", Events: []string{"message.created", "message.sent"}})
	c.ApplyDefaults()
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "webhooks[0].events[1]") || !strings.Contains(err.Error(), "message.sent") {
		t.Errorf("Validate = %v, want an error naming webhooks[0].events[1]", err)
	}
	c.Webhooks[0].Events = webhooks.Events()
	if err := c.Validate(); err != nil {
		t.Errorf("every event name: %v", err)
	}
}

// TestWebhooks_HangingReceiver: a receiver that never answers holds at most
// PerWebhook requests, and every delivery to another subscription arrives
// while those still hang.
func TestWebhooks_HangingReceiver(t *testing.T) {
	const perWebhook = 2 // the default
	var hanging, maxHanging, answered atomic.Int32
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := hanging.Add(1)
		for {
			m := maxHanging.Load()
			if n <= m || maxHanging.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-req.Context().Done(): // the gateway gave up or stopped
		case <-stop:
		}
		hanging.Add(-1)
		answered.Add(1)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(stop) }) // before slow.Close, which waits for the handlers

	r := newReceiver(t, map[string][]string{"fast": {"secret-fast"}})
	opts := fast
	opts.Timeout = time.Minute // the slow requests hang for the whole test
	gw := servertest.Start(t, servertest.Options{Webhooks: opts, Config: testConfig(
		config.Webhook{ID: "slow", URL: slow.URL + "/slow", Secret: "secret-slow"},
		r.hook("fast"),
	)})
	want := map[string]string{}
	for range 3 {
		_, live := liveChat(t, gw)
		maps.Copy(want, live)
	}
	_, async := asyncChat(t, gw)
	maps.Copy(want, async)
	// A long backlog for slow, older than fast's newest entries: those must
	// not wait behind it.
	var st started
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Max"}).Into(t, &st)
	visitor := wiretest.NewHTTP(t, gw.URL).WithToken(st.Token)
	for i := range 300 {
		visitor.Command("WebChatService.sendMessage", map[string]string{"message": fmt.Sprint("m", i)}).Resolved(t)
	}
	want[webhooks.EventID(st.ChatID, 1, webhooks.EventChatStarted)] = webhooks.EventChatStarted
	want[webhooks.EventID(st.ChatID, 1, webhooks.EventThreadCreated)] = webhooks.EventThreadCreated
	evs, err := gw.Engine().EventsAfter(context.Background(), st.ChatID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == model.EventMessage {
			want[webhooks.EventID(st.ChatID, ev.Seq, webhooks.EventMessageCreated)] = webhooks.EventMessageCreated
		}
	}

	wiretest.WaitFor(t, 10*time.Second, func() bool {
		got := r.delivered("fast")
		for id := range want {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
	if got := r.delivered("fast"); !slices.Equal(sortedKeys(got), sortedKeys(want)) {
		t.Errorf("fast received\n%v\nwant\n%v", sortedKeys(got), sortedKeys(want))
	}
	if n := answered.Load(); n != 0 {
		t.Fatalf("the slow receiver answered %d requests; it must still hang", n)
	}
	wiretest.WaitFor(t, 10*time.Second, func() bool { return hanging.Load() == perWebhook })
	if n := maxHanging.Load(); n != perWebhook {
		t.Errorf("the slow receiver had up to %d requests at once, want %d", n, perWebhook)
	}
	// Fast's are all delivered (their deletes commit just after the answers
	// arrive); slow's all wait.
	wiretest.WaitFor(t, 10*time.Second, func() bool { return pendingCount(t, gw) == len(want) })
}

// TestWebhooks_PruneDead: at start the service deletes the dead letters that
// died more than DeadRetention ago, whatever their id, then the oldest beyond
// MaxDead; the rest stay.
func TestWebhooks_PruneDead(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(down.Close)
	t0 := time.Now()
	var clock atomic.Int64 // unix ms
	clock.Store(t0.UnixMilli())
	opts := webhooks.Options{MaxAttempts: 1, DeadRetention: 24 * time.Hour, MaxDead: 3,
		Now: func() time.Time { return time.UnixMilli(clock.Load()) }}
	cfg := testConfig(config.Webhook{ID: "hook", URL: down.URL + "/hook", Secret: "s", Events: []string{webhooks.EventChatStarted}})
	dir := t.TempDir()
	ctx := context.Background()
	deadIDs := func(gw *servertest.Gateway) []uint64 {
		list, err := gw.Store().ListOutbox(ctx, model.OutboxDead, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		ids := []uint64{}
		for _, e := range list {
			ids = append(ids, e.ID)
		}
		return ids
	}

	var fresh []uint64
	t.Run("Dying", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Webhooks: opts, Config: cfg})
		// dieAt starts a chat while the clock reads at, and waits for its
		// chat.started delivery to die; it returns the delivery's id.
		dieAt := func(at time.Time) uint64 {
			clock.Store(at.UnixMilli())
			before := len(deadIDs(gw))
			wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Resolved(t)
			wiretest.WaitFor(t, 10*time.Second, func() bool { return len(deadIDs(gw)) == before+1 })
			ids := deadIDs(gw)
			return ids[len(ids)-1]
		}
		for range 4 {
			fresh = append(fresh, dieAt(t0.Add(-time.Hour)))
		}
		expired := dieAt(t0.Add(-48 * time.Hour)) // the newest id
		if got, want := deadIDs(gw), append(slices.Clone(fresh), expired); !slices.Equal(got, want) {
			t.Fatalf("dead %v, want %v", got, want)
		}
		// The subtest's end stops this gateway.
	})
	if t.Failed() {
		return
	}

	clock.Store(t0.UnixMilli())
	gw := servertest.Start(t, servertest.Options{DataDir: dir, Webhooks: opts, Config: cfg})
	wantIDs := fresh[1:] // the expired one by age, then the oldest fresh one by MaxDead
	// The dead count is kept beside the outbox and may trail the prune's
	// commit by a moment: wait for both, then check each.
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		_, dead, err := gw.Webhooks().Depth(ctx)
		return len(deadIDs(gw)) <= len(wantIDs) && err == nil && dead == len(wantIDs)
	})
	if got := deadIDs(gw); !slices.Equal(got, wantIDs) {
		t.Fatalf("dead after pruning %v, want %v", got, wantIDs)
	}
	if _, dead, err := gw.Webhooks().Depth(ctx); err != nil || dead != len(wantIDs) {
		t.Errorf("depth: %d dead, %v; want %d", dead, err, len(wantIDs))
	}
}
