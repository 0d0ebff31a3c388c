package adminapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// rest sends one admin request: body is nil, a string sent as is, or a value
// to encode.
func rest(t testing.TB, h *wiretest.HTTP, method, path string, body any) wiretest.Reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.BaseURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return h.Do(req)
}

// rejected checks a rejection's HTTP status and code.
func rejected(t testing.TB, r wiretest.Reply, status int, code string) wiretest.Error {
	t.Helper()
	e := r.Rejected(t)
	if r.HTTPStatus != status || e.Code != code {
		t.Fatalf("got HTTP %d %s, want %d %s", r.HTTPStatus, r.Body, status, code)
	}
	return e
}

type object = map[string]any

func decodeObject(t testing.TB, r wiretest.Reply) object {
	t.Helper()
	var m object
	r.Into(t, &m)
	return m
}

// TestCRUD creates, reads, lists, updates and deletes one entry of each
// kind over REST.
func TestCRUD(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)

	for _, tc := range []struct {
		path, id string
		create   object
		update   object
		check    func(t *testing.T, created, updated object)
	}{
		{
			path: "/v1/admin/queues", id: "sales",
			create: object{"name": "sales", "skills": []string{"sales"}},
			update: object{"skills": []string{"sales", "en"}, "manualAccept": true},
			check: func(t *testing.T, created, updated object) {
				if updated["manualAccept"] != true || len(updated["skills"].([]any)) != 2 {
					t.Errorf("updated queue = %v", updated)
				}
			},
		},
		{
			path: "/v1/admin/deployments", id: "shop",
			create: object{"key": "shop", "mode": "live", "queue": "support", "origins": []string{"https://shop.example"},
				"identity": "signed", "jwtSecret": "a-secret-of-32-bytes-or-so-12345"},
			update: object{"key": "shop", "mode": "async", "queue": "support", "restoreTimeout": "2m", "identity": "signed"},
			check: func(t *testing.T, created, updated object) {
				if created["restoreTimeout"] != "1m0s" || created["idleTimeout"] != "24h0m0s" {
					t.Errorf("defaults not applied or not durations as strings: %v", created)
				}
				if updated["mode"] != "async" || updated["restoreTimeout"] != "2m0s" || updated["origins"] == nil {
					t.Errorf("updated deployment = %v", updated)
				}
				for _, m := range []object{created, updated} {
					if _, ok := m["jwtSecret"]; ok {
						t.Errorf("jwtSecret sent back: %v", m)
					}
				}
			},
		},
		{
			path: "/v1/admin/agents", id: "bob",
			create: object{"id": "bob", "skills": []string{"sales"}},
			update: object{"name": "Robert", "maxChats": 9, "languages": []string{"fr"}},
			check: func(t *testing.T, created, updated object) {
				if tok, _ := created["token"].(string); len(tok) < 32 {
					t.Errorf("created agent without a generated token: %v", created)
				}
				if created["name"] != "bob" || created["maxChats"] != 5.0 || created["kind"] != "human" {
					t.Errorf("defaults not applied: %v", created)
				}
				if updated["name"] != "Robert" || updated["maxChats"] != 9.0 {
					t.Errorf("updated agent = %v", updated)
				}
				if _, ok := updated["token"]; ok {
					t.Errorf("update sent a token back: %v", updated)
				}
				for _, m := range []object{created, updated} {
					if _, ok := m["tokenHash"]; ok {
						t.Errorf("tokenHash sent back: %v", m)
					}
				}
			},
		},
		{
			path: "/v1/admin/webhooks", id: "crm",
			create: object{"id": "crm", "url": "https://crm.example/hook", "events": []string{"chat.ended"}},
			update: object{"url": "https://crm.example/hook2", "events": []string{"message.created"}},
			check: func(t *testing.T, created, updated object) {
				if sec, _ := created["secret"].(string); len(sec) < 32 {
					t.Errorf("created webhook without a generated secret: %v", created)
				}
				if _, ok := updated["secret"]; ok || updated["url"] != "https://crm.example/hook2" {
					t.Errorf("updated webhook = %v", updated)
				}
			},
		},
	} {
		t.Run(tc.path, func(t *testing.T) {
			item := tc.path + "/" + tc.id
			rejected(t, rest(t, admin, "GET", item, nil), http.StatusNotFound, "not_found")
			created := decodeObject(t, rest(t, admin, "POST", tc.path, tc.create))
			rejected(t, rest(t, admin, "POST", tc.path, tc.create), http.StatusConflict, "already_exists")

			got := decodeObject(t, rest(t, admin, "GET", item, nil))
			once := object{}
			for k, v := range created {
				once[k] = v
			}
			delete(once, "token")
			delete(once, "secret")
			if !equalJSON(t, got, once) {
				t.Errorf("GET %s = %v, want what POST answered: %v", item, got, created)
			}
			kind := strings.TrimPrefix(tc.path, "/v1/admin/")
			list := decodeObject(t, rest(t, admin, "GET", tc.path, nil))[kind].([]any)
			if !containsJSON(t, list, got) {
				t.Errorf("GET %s = %v, lacks %v", tc.path, list, got)
			}

			updated := decodeObject(t, rest(t, admin, "PUT", item, tc.update))
			if again := decodeObject(t, rest(t, admin, "GET", item, nil)); !equalJSON(t, again, updated) {
				t.Errorf("GET after PUT = %v, want %v", again, updated)
			}
			tc.check(t, created, updated)
			rejected(t, rest(t, admin, "PUT", tc.path+"/nope", object{}), http.StatusNotFound, "not_found")

			deleted := decodeObject(t, rest(t, admin, "DELETE", item, nil))
			if deleted["deleted"] != true {
				t.Errorf("DELETE = %v", deleted)
			}
			rejected(t, rest(t, admin, "GET", item, nil), http.StatusNotFound, "not_found")
			rejected(t, rest(t, admin, "DELETE", item, nil), http.StatusNotFound, "not_found")
		})
	}
}

func equalJSON(t testing.TB, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func containsJSON(t testing.TB, list []any, v any) bool {
	t.Helper()
	for _, x := range list {
		if equalJSON(t, x, v) {
			return true
		}
	}
	return false
}

// TestAuth refuses everyone but the admin, over REST and over the bus.
func TestAuth(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	anon := wiretest.NewHTTP(t, gw.URL)
	var st struct {
		Token string `json:"token"`
	}
	anon.WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &st)

	for _, tc := range []struct {
		name, auth string
		status     int
		code       string
	}{
		{"NoToken", "", http.StatusUnauthorized, "unauthorized"},
		{"UnknownToken", "Bearer not-a-token-at-all", http.StatusUnauthorized, "unauthorized"},
		{"BasicScheme", "Basic " + gw.AdminToken, http.StatusUnauthorized, "unauthorized"},
		{"VisitorToken", "Bearer " + st.Token, http.StatusForbidden, "forbidden"},
		{"AgentToken", "Bearer " + gw.AgentToken, http.StatusForbidden, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/v1/admin/deployments", ""},
				{"POST", "/v1/admin/queues", `{"name":"x"}`},
				{"GET", "/v1/admin/agents/ann", ""},
				{"PUT", "/v1/admin/agents/ann", `{"maxChats":1}`},
				{"DELETE", "/v1/admin/agents/ann", ""},
				{"GET", "/v1/admin/webhooks/deliveries", ""},
				{"POST", "/v1/admin/webhooks/deliveries/1/retry", ""},
			} {
				req, err := http.NewRequest(r.method, gw.URL+r.path, strings.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				rep := anon.Do(req)
				if e := rep.Rejected(t); rep.HTTPStatus != tc.status || e.Code != tc.code {
					t.Errorf("%s %s: HTTP %d %s, want %d %s", r.method, r.path, rep.HTTPStatus, rep.Body, tc.status, tc.code)
				}
			}
		})
	}
	// Nothing changed.
	if a, ok := gw.Engine().AgentByToken(gw.AgentToken); !ok || a.MaxChats != 5 {
		t.Errorf("ann = %+v, %v after refused changes", a, ok)
	}

	// The plugin refuses non-admin callers on its own, whatever the wire.
	agent := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	rejected(t, agent.Command("AdminService.listAgents", nil), http.StatusForbidden, "forbidden")
	rejected(t, anon.WithDeployment("demo").Command("AdminService.deleteAgent", object{"id": "ann"}), http.StatusForbidden, "forbidden")
	rejected(t, anon.WithToken(st.Token).Command("AdminService.createQueue", object{"name": "x"}), http.StatusForbidden, "forbidden")
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	var agents struct {
		Agents []object `json:"agents"`
	}
	admin.Command("AdminService.listAgents", nil).Into(t, &agents)
	if len(agents.Agents) != 1 || agents.Agents[0]["id"] != "ann" {
		t.Errorf("listAgents over /v1/command = %v", agents)
	}
}

// TestBadRequests checks bodies and paths the API refuses.
func TestBadRequests(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	for _, tc := range []struct {
		method, path, body string
		status             int
		code, message      string
	}{
		{"POST", "/v1/admin/queues", `not json`, 400, "invalid_request", "JSON object"},
		{"POST", "/v1/admin/queues", `["q"]`, 400, "invalid_request", "JSON object"},
		{"POST", "/v1/admin/queues", ``, 400, "invalid_request", "JSON object"},
		{"PUT", "/v1/admin/queues/support", `null`, 400, "invalid_request", "JSON object"},
		{"POST", "/v1/admin/queues", `{"name":"q","skils":[]}`, 400, "invalid_request", "field skils not found"},
		{"POST", "/v1/admin/deployments", `{"key":"k","queue":"support","idleTimeout":60}`, 400, "invalid_request", "Duration"},
		{"POST", "/v1/admin/deployments", `{"key":"k","queue":"support","mode":"chat"}`, 400, "invalid_config", `mode: "chat" is not live or async`},
		{"POST", "/v1/admin/deployments", `{"queue":"support"}`, 400, "invalid_config", "key"},
		{"PUT", "/v1/admin/deployments/demo", `{"key":"other","queue":"support"}`, 400, "invalid_request", "cannot change"},
		{"POST", "/v1/admin/agents", `{"id":"x","token":"short"}`, 400, "invalid_config", "at least 8"},
		{"POST", "/v1/admin/agents", `{"id":"x","token":"` + gw.AdminToken + `"}`, 400, "invalid_config", "already used"},
		{"POST", "/v1/admin/agents", `{"id":"x","token":"` + gw.AgentToken + `"}`, 400, "invalid_config", "already used"},
		{"POST", "/v1/admin/webhooks", `{"id":"deliveries","url":"https://a.example"}`, 400, "invalid_request", "reserved"},
		{"POST", "/v1/admin/webhooks", `{"url":"ftp://a.example"}`, 400, "invalid_config", "url"},
		{"DELETE", "/v1/admin/queues/support", ``, 409, "in_use", "demo, demo-async"},
		{"GET", "/v1/admin/webhooks/deliveries?limit=x", ``, 400, "invalid_request", "limit"},
		{"GET", "/v1/admin/nothing", ``, 404, "not_found", ""},
		{"PATCH", "/v1/admin/queues/support", `{}`, 405, "invalid_request", ""},
	} {
		rep := rest(t, admin, tc.method, tc.path, tc.body)
		e := rep.Rejected(t)
		if rep.HTTPStatus != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.message) {
			t.Errorf("%s %s %s: HTTP %d %s, want %d %s mentioning %q", tc.method, tc.path, tc.body, rep.HTTPStatus, rep.Body,
				tc.status, tc.code, tc.message)
		}
	}
	// None of them changed anything.
	cfg := gw.Config()
	if len(cfg.Deployments) != 2 || len(cfg.Queues) != 1 || len(cfg.Agents) != 1 || len(cfg.Webhooks) != 0 {
		t.Errorf("directory changed: %+v", cfg)
	}
}

// TestDeliveries forwards the webhook delivery routes to WebhookService.
func TestDeliveries(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	rep := rest(t, admin, "GET", "/v1/admin/webhooks/deliveries?state=dead&limit=10", nil)
	if rep.Status == "resolved" {
		var d struct {
			State      string `json:"state"`
			Deliveries []any  `json:"deliveries"`
		}
		rep.Into(t, &d)
		if d.State != "dead" || len(d.Deliveries) != 0 {
			t.Errorf("deliveries = %s", rep.Body)
		}
	} else if e := rep.Rejected(t); e.Code != "unknown_command" {
		t.Errorf("GET deliveries: HTTP %d %s", rep.HTTPStatus, rep.Body)
	}
	rep = rest(t, admin, "POST", "/v1/admin/webhooks/deliveries/42/retry", nil)
	if e := rep.Rejected(t); rep.HTTPStatus != http.StatusNotFound {
		t.Errorf("retry of an unknown delivery: HTTP %d %s (%s)", rep.HTTPStatus, rep.Body, e.Code)
	}
}
