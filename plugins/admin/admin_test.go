package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/store"
)

type object = map[string]any

// rest sends one admin request with a JSON body (nil for none).
func rest(t testing.TB, h *wiretest.HTTP, method, path string, body any) wiretest.Reply {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.BaseURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return h.Do(req)
}

func rejected(t testing.TB, r wiretest.Reply, status int, code string) wiretest.Error {
	t.Helper()
	e := r.Rejected(t)
	if r.HTTPStatus != status || e.Code != code {
		t.Fatalf("got HTTP %d %s, want %d %s", r.HTTPStatus, r.Body, status, code)
	}
	return e
}

type started struct {
	ChatID string `json:"chatId"`
	Token  string `json:"token"`
}

func startChat(t testing.TB, gw *servertest.Gateway, deployment string) started {
	t.Helper()
	var st started
	wiretest.NewHTTP(t, gw.URL).WithDeployment(deployment).Command("WebChatService.startChat",
		object{"nickname": "Mia"}).Into(t, &st)
	return st
}

// chatState waits until the chat is in state and, when agent is not empty,
// has that agent connected.
func waitChat(t testing.TB, gw *servertest.Gateway, chatID string, state model.ChatState, agent string) model.Chat {
	t.Helper()
	var c model.Chat
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		var err error
		c, err = gw.Store().Chat(context.Background(), chatID)
		if err != nil || c.State != state {
			return false
		}
		if agent == "" {
			return true
		}
		for _, p := range c.Participants {
			if p.ID == agent && p.Connected() {
				return true
			}
		}
		return false
	})
	return c
}

// TestCreatedDeploymentWorksAtOnce creates a queue and a deployment and
// starts a chat on it, from its origin, without a restart.
func TestCreatedDeploymentWorksAtOnce(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	shop := wiretest.NewHTTP(t, gw.URL).WithDeployment("shop")
	shop.Origin = "https://shop.example"
	rejected(t, shop.Command("WebChatService.startChat", nil), http.StatusForbidden, "origin_not_allowed")

	rest(t, admin, "POST", "/v1/admin/queues", object{"name": "sales"}).Resolved(t)
	rest(t, admin, "POST", "/v1/admin/deployments", object{"key": "shop", "mode": "live", "queue": "sales",
		"origins": []string{"https://shop.example"}}).Resolved(t)

	var st started
	shop.Command("WebChatService.startChat", object{"nickname": "Mia"}).Into(t, &st)
	if c := waitChat(t, gw, st.ChatID, model.StateQueued, ""); c.Deployment != "shop" || c.Queue != "sales" {
		t.Errorf("chat = %+v, want deployment shop in queue sales", c)
	}
	shop.WithToken(st.Token).Command("WebChatService.sendMessage", object{"message": "hello"}).Resolved(t)

	// The page's origin is allowed by CORS as well.
	req, _ := http.NewRequest(http.MethodOptions, gw.URL+"/v1/command", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, _ := wiretest.NewHTTP(t, gw.URL).Send(req)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example" {
		t.Errorf("CORS preflight from the new origin: Access-Control-Allow-Origin = %q", got)
	}

	// Deleting it stops new chats at once.
	rest(t, admin, "DELETE", "/v1/admin/deployments/shop", nil).Resolved(t)
	rejected(t, shop.WithToken("").Command("WebChatService.startChat", nil), http.StatusForbidden, "origin_not_allowed")
	shop.Origin = ""
	rejected(t, shop.Command("WebChatService.startChat", nil), http.StatusNotFound, "unknown_deployment")
}

// TestCreatedAgentServesAtOnce creates agents, with a generated and with a
// given token: each authenticates at once, goes online and is routed a chat.
func TestCreatedAgentServesAtOnce(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)

	var bob struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	rest(t, admin, "POST", "/v1/admin/agents", object{"id": "bob", "name": "Bob", "maxChats": 1}).Into(t, &bob)
	if bob.ID != "bob" || len(bob.Token) < 32 {
		t.Fatalf("created agent = %+v, want a generated token", bob)
	}
	carol := rest(t, admin, "POST", "/v1/admin/agents", object{"id": "carol", "token": "carol-secret", "maxChats": 1})
	if strings.Contains(string(carol.Body), "carol-secret") || strings.Contains(string(carol.Body), "token") {
		t.Errorf("a given token is sent back: %s", carol.Body)
	}
	list := rest(t, admin, "GET", "/v1/admin/agents", nil)
	if strings.Contains(string(list.Body), "token") || strings.Contains(string(list.Body), config.HashToken("carol-secret")) {
		t.Errorf("agents list shows tokens or their hashes: %s", list.Body)
	}

	for _, a := range []struct{ id, token string }{{"bob", bob.Token}, {"carol", "carol-secret"}} {
		agent := wiretest.NewHTTP(t, gw.URL).WithToken(a.token)
		agent.Command("AgentService.setStatus", object{"status": "online"}).Resolved(t)
		var chats struct {
			Seq uint64 `json:"seq"`
		}
		agent.Command("AgentService.listChats", nil).Into(t, &chats)
		st := startChat(t, gw, "demo")
		waitChat(t, gw, st.ChatID, model.StateActive, a.id)
		// The chat is first pushed as waiting (chatQueued, chatDequeued), then
		// assigned; a long-poll may answer with the queue events alone.
		var events []wiretest.Event
		for after, deadline := chats.Seq, time.Now().Add(wiretest.Timeout); len(events) == 0 && time.Now().Before(deadline); {
			for _, e := range agent.Poll(after, wiretest.Timeout).Events {
				after = max(after, e.Seq)
				if e.Name != "AgentService.chatQueued" && e.Name != "AgentService.chatDequeued" {
					events = append(events, e)
				}
			}
		}
		if len(events) == 0 || events[0].Name != "AgentService.chatAssigned" || !strings.Contains(string(events[0].Data), st.ChatID) {
			t.Errorf("%s's stream after %d: %v, want chatAssigned for %s", a.id, chats.Seq, events, st.ChatID)
		}
		agent.Command("AgentService.sendMessage", object{"chatId": st.ChatID, "message": "Hi, I'm " + a.id}).Resolved(t)
	}

	// Rotating a token: the old one stops working, the new one works.
	rest(t, admin, "PUT", "/v1/admin/agents/carol", object{"token": "carol-new-secret", "maxChats": 1}).Resolved(t)
	rejected(t, wiretest.NewHTTP(t, gw.URL).WithToken("carol-secret").Command("AgentService.getStatus", nil),
		http.StatusUnauthorized, "unauthorized")
	wiretest.NewHTTP(t, gw.URL).WithToken("carol-new-secret").Command("AgentService.getStatus", nil).Resolved(t)
	// An update without a token keeps it.
	rest(t, admin, "PUT", "/v1/admin/agents/carol", object{"name": "Carol", "maxChats": 2}).Resolved(t)
	wiretest.NewHTTP(t, gw.URL).WithToken("carol-new-secret").Command("AgentService.getStatus", nil).Resolved(t)
	// Carol kept her presence and her chat through both updates.
	if info, err := gw.Engine().Agent("carol"); err != nil || info.Status != "online" || len(info.Chats) != 1 || info.Name != "Carol" {
		t.Errorf("carol after updates = %+v, %v", info, err)
	}
}

// TestDeleteAgentRequeuesChats deletes an agent in a chat: the chat is
// queued again and goes to the next agent, and the token is refused.
func TestDeleteAgentRequeuesChats(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", object{"status": "online"}).Resolved(t)
	st := startChat(t, gw, "demo")
	waitChat(t, gw, st.ChatID, model.StateActive, "ann")

	rest(t, admin, "DELETE", "/v1/admin/agents/ann", nil).Resolved(t)
	c := waitChat(t, gw, st.ChatID, model.StateQueued, "")
	for _, p := range c.Participants {
		if p.ID == "ann" && p.Connected() {
			t.Errorf("ann is still in the chat: %+v", c.Participants)
		}
	}
	rejected(t, ann.Command("AgentService.getStatus", nil), http.StatusUnauthorized, "unauthorized")
	// The visitor was told and its chat goes on.
	visitor := wiretest.NewHTTP(t, gw.URL).WithToken(st.Token)
	visitor.Command("WebChatService.sendMessage", object{"message": "still there?"}).Resolved(t)

	var bob struct {
		Token string `json:"token"`
	}
	rest(t, admin, "POST", "/v1/admin/agents", object{"id": "bob"}).Into(t, &bob)
	wiretest.NewHTTP(t, gw.URL).WithToken(bob.Token).Command("AgentService.setStatus", object{"status": "online"}).Resolved(t)
	waitChat(t, gw, st.ChatID, model.StateActive, "bob")
}

// TestInvalidChangeChangesNothing makes changes that fail, each for another
// reason: neither the running configuration nor the store changes.
func TestInvalidChangeChangesNothing(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	ctx := context.Background()
	beforeCfg := gw.Config()
	beforeDir, err := gw.Store().Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	beforeDemo := rest(t, admin, "GET", "/v1/admin/deployments/demo", nil).Resolved(t)

	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code, msg    string
	}{
		{"PUT", "/v1/admin/deployments/demo", object{"queue": "nope"}, 400, "invalid_config", `deployments[0].queue: no queue named "nope"`},
		{"PUT", "/v1/admin/deployments/demo", object{"queue": "support", "identity": "signed"}, 400, "invalid_config", "jwtSecret"},
		{"PUT", "/v1/admin/deployments/demo", object{"queue": "support", "origins": []string{"shop.example"}}, 400, "invalid_config", "origins[0]"},
		{"PUT", "/v1/admin/agents/ann", object{"maxChats": 100}, 400, "invalid_config", "1–99"},
		{"PUT", "/v1/admin/agents/ann", object{"kind": "robot"}, 400, "invalid_config", "kind"},
		{"PUT", "/v1/admin/queues/support", object{"whenNoAgents": "cry"}, 400, "invalid_config", "whenNoAgents"},
		{"PUT", "/v1/admin/deployments/demo", object{"queue": "support", "files": object{"enabled": true, "types": []string{"bogus"}}}, 400, "invalid_config", `deployments[0].files.types[0]: "bogus"`},
		{"PUT", "/v1/admin/queues/support", object{"skills": []string{"billing", "billing"}}, 400, "invalid_config", `queues[0].skills[1]: "billing" is listed twice`},
		{"PUT", "/v1/admin/agents/ann", object{"skills": []string{""}}, 400, "invalid_config", "agents[0].skills[0]: empty"},
		{"PUT", "/v1/admin/agents/ann", object{"languages": []string{"en", "en"}}, 400, "invalid_config", `agents[0].languages[1]: "en" is listed twice`},
		{"DELETE", "/v1/admin/queues/support", nil, 409, "in_use", "demo, demo-async"},
		{"POST", "/v1/admin/queues", object{"name": "support"}, 409, "already_exists", `"support"`},
		{"POST", "/v1/admin/deployments", object{"key": "x", "queue": "nope"}, 400, "invalid_config", "no queue named"},
		{"POST", "/v1/admin/webhooks", object{"url": "https://h.example", "events": 3}, 400, "invalid_request", "into []string"},
	} {
		rep := rest(t, admin, tc.method, tc.path, tc.body)
		e := rep.Rejected(t)
		if rep.HTTPStatus != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s %s %v: HTTP %d %s, want %d %s mentioning %q", tc.method, tc.path, tc.body, rep.HTTPStatus, rep.Body,
				tc.status, tc.code, tc.msg)
		}
	}
	if got := rest(t, admin, "GET", "/v1/admin/deployments/demo", nil).Resolved(t); !bytes.Equal(got, beforeDemo) {
		t.Errorf("demo changed:\n%s\nwas\n%s", got, beforeDemo)
	}
	afterCfg := gw.Config()
	if !equalJSON(t, afterCfg, beforeCfg) {
		t.Errorf("running configuration changed:\n%+v\nwas\n%+v", afterCfg, beforeCfg)
	}
	afterDir, err := gw.Store().Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, afterDir, beforeDir) {
		t.Errorf("stored directory changed")
	}
	// A queue with chats waiting cannot go either.
	rest(t, admin, "POST", "/v1/admin/queues", object{"name": "sales"}).Resolved(t)
	rest(t, admin, "PUT", "/v1/admin/deployments/demo-async", object{"mode": "async", "queue": "sales"}).Resolved(t)
	startChat(t, gw, "demo-async")
	rest(t, admin, "PUT", "/v1/admin/deployments/demo-async", object{"mode": "async", "queue": "support"}).Resolved(t)
	e := rejected(t, rest(t, admin, "DELETE", "/v1/admin/queues/sales", nil), http.StatusConflict, "in_use")
	if !strings.Contains(e.Message, "1 chat(s) waiting") {
		t.Errorf("in_use message = %q", e.Message)
	}
}

func equalJSON(t testing.TB, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// TestConcurrentChanges creates agents from many clients at once: the
// changes are serialised, none is lost.
func TestConcurrentChanges(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := "agent-" + string(rune('a'+i))
			rest(t, admin, "POST", "/v1/admin/agents", object{"id": id}).Resolved(t)
		})
	}
	wg.Wait()
	var list struct {
		Agents []object `json:"agents"`
	}
	rest(t, admin, "GET", "/v1/admin/agents", nil).Into(t, &list)
	if len(list.Agents) != 21 || len(gw.Config().Agents) != 21 {
		t.Errorf("%d agents listed, %d running, want 21", len(list.Agents), len(gw.Config().Agents))
	}
	d, err := gw.Store().Directory(context.Background())
	if err != nil || len(d[store.DirAgents]) != 21 {
		t.Errorf("%d agents stored (%v), want 21", len(d[store.DirAgents]), err)
	}
}

// logBuffer collects a gateway's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// TestChangesPersistAcrossRestart changes every kind, restarts on the same
// store, and finds every change in force.
func TestChangesPersistAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var bobToken string
	t.Run("Change", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir})
		admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
		rest(t, admin, "POST", "/v1/admin/queues", object{"name": "sales", "skills": []string{"sales"}}).Resolved(t)
		rest(t, admin, "POST", "/v1/admin/deployments", object{"key": "shop", "queue": "sales", "idleTimeout": "90m",
			"identity": "signed", "jwtSecret": "0123456789abcdef0123"}).Resolved(t)
		var bob struct {
			Token string `json:"token"`
		}
		rest(t, admin, "POST", "/v1/admin/agents", object{"id": "bob", "skills": []string{"sales"}}).Into(t, &bob)
		bobToken = bob.Token
		rest(t, admin, "POST", "/v1/admin/webhooks", object{"id": "crm", "url": "https://crm.example/hook", "secret": "hook-secret"}).Resolved(t)
		rest(t, admin, "PUT", "/v1/admin/deployments/demo", object{"queue": "support", "origins": []string{"https://www.example"}}).Resolved(t)
		rest(t, admin, "DELETE", "/v1/admin/deployments/demo-async", nil).Resolved(t)
		rest(t, admin, "DELETE", "/v1/admin/agents/ann", nil).Resolved(t)
	})
	t.Run("Restart", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir}) // the demo config again
		cfg := gw.Config()
		var keys []string
		for _, d := range cfg.Deployments {
			keys = append(keys, d.Key)
		}
		if got, want := strings.Join(keys, ","), "demo,shop"; got != want {
			t.Errorf("deployments = %s, want %s", got, want)
		}
		shop, _ := cfg.Deployment("shop")
		if shop.IdleTimeout != 90*time.Minute || shop.JWTSecret != "0123456789abcdef0123" || shop.Queue != "sales" {
			t.Errorf("shop = %+v", shop)
		}
		if demo, _ := cfg.Deployment("demo"); len(demo.Origins) != 1 || demo.Origins[0] != "https://www.example" {
			t.Errorf("demo's origins = %v", demo.Origins)
		}
		if q, ok := cfg.Queue("sales"); !ok || len(q.Skills) != 1 {
			t.Errorf("queue sales = %+v, %v", q, ok)
		}
		if len(cfg.Agents) != 1 || cfg.Agents[0].ID != "bob" || cfg.Agents[0].Token != "" {
			t.Errorf("agents = %+v, want bob alone, without a token in clear", cfg.Agents)
		}
		if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].ID != "crm" || cfg.Webhooks[0].Secret != "hook-secret" {
			t.Errorf("webhooks = %+v", cfg.Webhooks)
		}
		// Tokens: bob's works, ann's (from the file) does not; the admin
		// token is the file's.
		wiretest.NewHTTP(t, gw.URL).WithToken(bobToken).Command("AgentService.getStatus", nil).Resolved(t)
		rejected(t, wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken).Command("AgentService.getStatus", nil),
			http.StatusUnauthorized, "unauthorized")
		rest(t, wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken), "GET", "/v1/admin/agents/bob", nil).Resolved(t)
		// Nothing is stored in clear.
		d, err := gw.Store().Directory(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range d[store.DirAgents] {
			if bytes.Contains(e.Value, []byte(bobToken)) || bytes.Contains(e.Value, []byte(`"token"`)) {
				t.Errorf("stored agent holds a token: %s", e.Value)
			}
		}
	})
}

// TestConfigSeedsEmptyStore starts on an empty store (seeded from the file),
// then with another file (ignored: the store has a directory), then with the
// first file again.
func TestConfigSeedsEmptyStore(t *testing.T) {
	dir := t.TempDir()
	first := config.Demo()
	first.Deployments = append(first.Deployments, config.Deployment{Key: "seeded", Queue: "support", Origins: []string{"*"}})
	first.Webhooks = []config.Webhook{{URL: "https://hooks.example/a", Secret: "hook-secret"}}
	first.Agents = append(first.Agents, config.Agent{ID: "hashed", TokenHash: config.HashToken("hashed-secret")})
	first.ApplyDefaults()
	second := config.Demo()
	second.AdminToken = "another-admin-token"
	second.Deployments = append(second.Deployments, config.Deployment{Key: "fromfile", Queue: "support"})
	second.Limits.MessageChars = 10

	deployments := func(gw *servertest.Gateway) string {
		var keys []string
		for _, d := range gw.Config().Deployments {
			keys = append(keys, d.Key)
		}
		return strings.Join(keys, ",")
	}
	t.Run("Seed", func(t *testing.T) {
		var logs logBuffer
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: &first, Logger: logs.logger()})
		if got, want := deployments(gw), "demo,demo-async,seeded"; got != want {
			t.Errorf("deployments = %s, want %s", got, want)
		}
		if !strings.Contains(logs.String(), "seeded it from the configuration") {
			t.Errorf("log does not say the store was seeded:\n%s", logs.String())
		}
		d, err := gw.Store().Directory(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(d[store.DirDeployments]) != 3 || len(d[store.DirQueues]) != 1 || len(d[store.DirAgents]) != 2 || len(d[store.DirWebhooks]) != 1 {
			t.Errorf("stored directory: %v", d)
		}
		if len(gw.Config().Webhooks) != 1 || gw.Config().Webhooks[0].ID != "webhook-1" {
			t.Errorf("webhooks = %+v", gw.Config().Webhooks)
		}
		// Agents of the file work, by token or by hash.
		wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.getStatus", nil).Resolved(t)
		wiretest.NewHTTP(t, gw.URL).WithToken("hashed-secret").Command("AgentService.getStatus", nil).Resolved(t)
	})
	t.Run("OtherFileIgnored", func(t *testing.T) {
		var logs logBuffer
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: &second, Logger: logs.logger()})
		if got, want := deployments(gw), "demo,demo-async,seeded"; got != want {
			t.Errorf("deployments = %s, want %s (the store's, not the file's)", got, want)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "are ignored") {
			t.Errorf("log does not warn that the file's directory is ignored:\n%s", logs.String())
		}
		// The rest of the file is in force: admin token and limits.
		if gw.Config().Limits.MessageChars != 10 {
			t.Errorf("limits = %+v, want the file's", gw.Config().Limits)
		}
		rejected(t, rest(t, wiretest.NewHTTP(t, gw.URL).WithToken(first.AdminToken), "GET", "/v1/admin/agents", nil),
			http.StatusUnauthorized, "unauthorized")
		rest(t, wiretest.NewHTTP(t, gw.URL).WithToken(second.AdminToken), "GET", "/v1/admin/agents", nil).Resolved(t)
	})
	t.Run("SameFile", func(t *testing.T) {
		var logs logBuffer
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: &first, Logger: logs.logger()})
		if got, want := deployments(gw), "demo,demo-async,seeded"; got != want {
			t.Errorf("deployments = %s, want %s", got, want)
		}
		if strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "the same as the configuration's") {
			t.Errorf("log for an unchanged file:\n%s", logs.String())
		}
	})
}

// TestUnsignedUUIDWarned: a deployment turned to unsigned uuids through the
// admin API is named in a warning, as at every start; other changes are not.
func TestUnsignedUUIDWarned(t *testing.T) {
	var logs logBuffer
	gw := servertest.Start(t, servertest.Options{Logger: logs.logger()})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	rest(t, admin, "POST", "/v1/admin/deployments", object{"key": "quiet", "queue": "support"}).Resolved(t)
	rest(t, admin, "POST", "/v1/admin/deployments", object{"key": "crm", "queue": "support", "identity": "unsigned-uuid"}).Resolved(t)
	rest(t, admin, "PUT", "/v1/admin/deployments/quiet", object{"queue": "support", "identity": "unsigned-uuid"}).Resolved(t)
	got := logs.String()
	for _, key := range []string{"crm", "quiet"} {
		if strings.Count(got, "level=WARN msg=\"deployment takes unsigned visitor uuids") != 2 || !strings.Contains(got, "deployment="+key) {
			t.Errorf("no single warning for %s; logs:\n%s", key, got)
		}
	}
}
