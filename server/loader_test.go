package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

// proactiveConfig is the demo with DESIGN.md's proactive deployment "shop"
// beside it.
func proactiveConfig(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Parse(strings.NewReader(`
adminToken: admin-secret
allowPrivateWebhooks: true  # the tests' receivers listen on loopback
queues: [{name: support}]
agents: [{id: ann, name: Ann, token: ann-secret}]
deployments:
  - key: shop
    queue: support
    origins: ["http://shop.test"]
    variables:
      - {name: cart_amount, selector: "#cart-total", type: number}
    triggers:
      - name: checkout-help
        when: {all: [{url: "*/checkout*"}, {var: cart_amount, op: ">=", value: 100}, {timeOnPage: 20s}]}
        onlyIfAgentsAvailable: true
        action: {show: cart-invite}
      - name: everywhere
        action: {show: chat-button}
    items:
      - name: chat-button
        kind: button
        online: {text: "Chat with us"}
        offline: {text: "Leave a message"}
      - name: cart-invite
        kind: invitation
        online: {title: "Need help with your order?", text: "An agent is ready.", accept: "Chat now", decline: "No thanks"}
  - key: closed
    queue: support
    enabled: false
  - key: upgrading
    queue: support
    maintenance: true
    maintenanceReason: "Back at 10:00"
    triggers: [{name: all, action: {open: chat}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c.Limits.RatePerIP, c.Limits.RatePerToken = -1, -1
	return &c
}

type loaded struct {
	Status int
	Header http.Header
	Body   string
	Conf   struct {
		Deployment, Gateway, Mode, Reason, Display string
		Enabled, Maintenance                       bool
		Variables                                  []map[string]any
		Triggers                                   []struct {
			Name                  string
			When                  json.RawMessage
			OnlyIfAgentsAvailable bool
			Action                map[string]string
		}
		Items []map[string]any
	}
}

func fetchLoader(t *testing.T, url, etag string) loaded {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	l := loaded{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	const head = "window._cxgate.proactive = "
	if i := strings.Index(l.Body, head); i >= 0 && resp.StatusCode == http.StatusOK {
		rest := l.Body[i+len(head):]
		if err := json.NewDecoder(strings.NewReader(rest)).Decode(&l.Conf); err != nil {
			t.Fatalf("loader configuration: %v\n%s", err, l.Body)
		}
	}
	return l
}

func TestLoader(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: proactiveConfig(t)})
	l := fetchLoader(t, gw.URL+"/widgets/loader.js?deployment=shop", "")
	if l.Status != http.StatusOK || !strings.HasPrefix(l.Header.Get("Content-Type"), "application/javascript") {
		t.Fatalf("loader: %d %s\n%s", l.Status, l.Header.Get("Content-Type"), l.Body)
	}
	cc := l.Header.Get("Cache-Control")
	age, err := strconv.Atoi(strings.TrimPrefix(cc[strings.Index(cc, "max-age="):], "max-age="))
	if err != nil || age <= 0 || age > 60 {
		t.Errorf("Cache-Control %q: want a max-age of at most 60", cc)
	}
	if v := l.Header.Get("Vary"); !strings.Contains(v, "X-Forwarded-Host") {
		t.Errorf("Vary %q: the body depends on the request's host", v)
	}
	etag := l.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	c := l.Conf
	if c.Deployment != "shop" || c.Gateway != gw.URL || c.Mode != "live" || !c.Enabled || c.Maintenance || c.Display != "floating" {
		t.Errorf("loader configuration: %+v", c)
	}
	if len(c.Triggers) != 2 || c.Triggers[0].Name != "checkout-help" || !c.Triggers[0].OnlyIfAgentsAvailable ||
		c.Triggers[0].Action["show"] != "cart-invite" || c.Triggers[1].When != nil {
		t.Errorf("triggers: %+v", c.Triggers)
	}
	if want := `{"all":[{"url":"*/checkout*"},{"op":"\u003e=","value":100,"var":"cart_amount"},{"timeOnPage":20000}]}`; string(c.Triggers[0].When) != want {
		t.Errorf("when = %s, want %s", c.Triggers[0].When, want)
	}
	if len(c.Items) != 2 || c.Items[0]["name"] != "chat-button" || c.Items[1]["offline"] != nil || len(c.Variables) != 1 {
		t.Errorf("items %v variables %v", c.Items, c.Variables)
	}
	// The static part: it wires the transport and loads the bus, then the Chat Manager.
	for _, want := range []string{"/widgets/cxbus.js", "/widgets/chatmanager.js", "type: 'cxgate'", "console.debug"} {
		if !strings.Contains(l.Body, want) {
			t.Errorf("loader does not contain %q", want)
		}
	}
	if n := len(l.Body); n > 4096 {
		t.Errorf("loader is %d bytes", n)
	}

	// Revalidation: 304 without a body, and again for a list with a weak tag.
	if r := fetchLoader(t, gw.URL+"/widgets/loader.js?deployment=shop", etag); r.Status != http.StatusNotModified || r.Body != "" {
		t.Errorf("If-None-Match: %d %q", r.Status, r.Body)
	}
	if r := fetchLoader(t, gw.URL+"/widgets/loader.js?deployment=shop", `"x", W/`+etag); r.Status != http.StatusNotModified {
		t.Errorf("If-None-Match list: %d", r.Status)
	}
	if r := fetchLoader(t, gw.URL+"/widgets/loader.js?deployment=shop", `"stale"`); r.Status != http.StatusOK {
		t.Errorf("stale If-None-Match: %d", r.Status)
	}

	// Switched off: the configuration says so and nothing more; the script stops.
	for _, k := range []string{"closed", "upgrading"} {
		r := fetchLoader(t, gw.URL+"/widgets/loader.js?deployment="+k, "")
		if r.Status != http.StatusOK || len(r.Conf.Triggers) != 0 || len(r.Conf.Items) != 0 {
			t.Errorf("%s: %d %+v", k, r.Status, r.Conf)
		}
		if k == "closed" && (r.Conf.Enabled || r.Conf.Maintenance) {
			t.Errorf("closed: %+v", r.Conf)
		}
		if k == "upgrading" && (!r.Conf.Enabled || !r.Conf.Maintenance || r.Conf.Reason != "Back at 10:00") {
			t.Errorf("upgrading: %+v", r.Conf)
		}
	}
	// Unknown and missing deployments: a JavaScript comment, not cached.
	for q, status := range map[string]int{"?deployment=nope": 404, "": 400, "?deployment=*/alert(1)/*": 404} {
		r := fetchLoader(t, gw.URL+"/widgets/loader.js"+q, "")
		body := strings.TrimSpace(r.Body)
		if r.Status != status || !strings.HasPrefix(body, "/*") || !strings.HasSuffix(body, "*/") || strings.Count(body, "*/") != 1 {
			t.Errorf("loader.js%s: %d %q", q, r.Status, r.Body)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/javascript") || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("loader.js%s: headers %v", q, r.Header)
		}
	}
}

// TestLoader_AdminChange: a trigger changed through the admin API is in the
// next loader fetched, under a new ETag; a change that breaks the whole
// (a trigger showing no item) is refused and the loader keeps the old one.
func TestLoader_AdminChange(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: proactiveConfig(t)})
	url := gw.URL + "/widgets/loader.js?deployment=shop"
	before := fetchLoader(t, url, "")
	status, body := adminDo(t, gw.URL, http.MethodGet, "/v1/admin/deployments/shop", "")
	if status != http.StatusOK {
		t.Fatalf("get deployment: %d %s", status, body)
	}
	var env struct{ Data map[string]any }
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	dep := env.Data
	if dep == nil {
		if err := json.Unmarshal([]byte(body), &dep); err != nil {
			t.Fatal(err)
		}
	}
	trig := dep["triggers"].([]any)
	if w, _ := json.Marshal(trig[0].(map[string]any)["when"]); !bytes.Contains(w, []byte(`"timeOnPage":"20s"`)) {
		t.Fatalf("admin API gives when as %s", w)
	}
	trig[1].(map[string]any)["when"] = map[string]any{"visits": map[string]any{"op": ">=", "value": 2}}
	trig[1].(map[string]any)["name"] = "returning"
	bad, _ := json.Marshal(map[string]any{"triggers": []any{map[string]any{"name": "x", "action": map[string]any{"show": "nothing"}}},
		"queue": "support", "items": dep["items"]})
	if status, body := adminDo(t, gw.URL, http.MethodPut, "/v1/admin/deployments/shop", string(bad)); status != http.StatusBadRequest ||
		!strings.Contains(body, "invalid_config") || !strings.Contains(body, "triggers[0].action.show") {
		t.Fatalf("bad change: %d %s", status, body)
	}
	// A condition of no known form is refused by name, without the line
	// numbers of a YAML text the client never wrote.
	badWhen, _ := json.Marshal(map[string]any{"queue": "support", "items": dep["items"], "triggers": []any{map[string]any{
		"name": "x", "when": map[string]any{"path": "/checkout"}, "action": map[string]any{"show": "chat-button"}}}})
	if status, body := adminDo(t, gw.URL, http.MethodPut, "/v1/admin/deployments/shop", string(badWhen)); status != http.StatusBadRequest ||
		!strings.Contains(body, `\"path\" is not a condition`) || strings.Contains(body, "line ") {
		t.Errorf("unknown condition: %d %s", status, body)
	}
	if r := fetchLoader(t, url, before.Header.Get("ETag")); r.Status != http.StatusNotModified {
		t.Fatalf("after a refused change: %d", r.Status)
	}
	good, _ := json.Marshal(dep)
	if status, body := adminDo(t, gw.URL, http.MethodPut, "/v1/admin/deployments/shop", string(good)); status != http.StatusOK {
		t.Fatalf("change: %d %s", status, body)
	}
	after := fetchLoader(t, url, before.Header.Get("ETag"))
	if after.Status != http.StatusOK || after.Header.Get("ETag") == before.Header.Get("ETag") {
		t.Fatalf("after the change: %d, ETag %s (was %s)", after.Status, after.Header.Get("ETag"), before.Header.Get("ETag"))
	}
	if tr := after.Conf.Triggers; len(tr) != 2 || tr[1].Name != "returning" || string(tr[1].When) != `{"visits":{"op":"\u003e=","value":2}}` {
		t.Errorf("triggers after the change: %+v", tr)
	}
	// Switching the deployment off reaches the next fetch too.
	dep["enabled"] = false
	off, _ := json.Marshal(dep)
	if status, body := adminDo(t, gw.URL, http.MethodPut, "/v1/admin/deployments/shop", string(off)); status != http.StatusOK {
		t.Fatalf("disable: %d %s", status, body)
	}
	if r := fetchLoader(t, url, ""); r.Conf.Enabled || len(r.Conf.Triggers) != 0 {
		t.Errorf("after disabling: %+v", r.Conf)
	}
}

// TestAvailability_CrossOrigin: the Chat Manager on a deployment's site asks
// /v1/availability from its own origin.
func TestAvailability_CrossOrigin(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: proactiveConfig(t)})
	for origin, ok := range map[string]bool{"http://shop.test": true, "http://evil.test": false} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/v1/availability?deployment=shop", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		allowed := resp.Header.Get("Access-Control-Allow-Origin") == origin
		if ok && (resp.StatusCode != http.StatusOK || !allowed || !strings.Contains(string(b), `"probability":0`)) {
			t.Errorf("%s: %d ACAO=%q %s", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), b)
		}
		if !ok && (resp.StatusCode == http.StatusOK || allowed) {
			t.Errorf("%s: %d ACAO=%q", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func adminDo(t *testing.T, base, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
