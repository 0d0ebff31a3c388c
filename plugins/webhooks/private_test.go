package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/internal/netguard"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// privateName is a host name that resolves to a loopback or private address
// of this machine without being an address itself (the host's own name), and
// a listener on that address: what a DNS name pointing inside, or rebound
// there, looks like to the gateway.
func privateName(t *testing.T) (name string, ln net.Listener) {
	t.Helper()
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", name)
	if err != nil || len(addrs) == 0 {
		t.Fatalf("this test needs the host's name %q to resolve: %v", name, err)
	}
	if !netguard.Blocked(addrs[0]) {
		t.Fatalf("the host's name %q resolves to %s, a public address: this test needs a private one", name, addrs[0])
	}
	ln, err = net.Listen("tcp", netip.AddrPortFrom(addrs[0], 0).String())
	if err != nil {
		t.Fatal(err)
	}
	return name, ln
}

// TestWebhooks_PrivateDestinations: without allowPrivateWebhooks, the admin
// API refuses webhook URLs on loopback, private or link-local addresses with
// a 400 that says why, and a URL whose name resolves to such an address is
// never connected to: its deliveries fail with an error that says so,
// while a closed port and an HTTP error are told apart only as "no HTTP
// answer" and "HTTP N".
func TestWebhooks_PrivateDestinations(t *testing.T) {
	name, ln := privateName(t)
	var reached atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	cfg := testConfig()
	cfg.AllowPrivateWebhooks = false
	gw := servertest.Start(t, servertest.Options{Webhooks: fast, Config: cfg})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	post := func(method, path string, body any) (int, string) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, gw.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		r := admin.Do(req)
		return r.HTTPStatus, string(r.Body)
	}
	for _, u := range []string{"http://127.0.0.1:" + port + "/hook", "http://localhost:22/", "http://[::1]:6379/",
		"http://10.0.0.5/hook", "http://169.254.169.254/latest/meta-data/"} {
		status, body := post("POST", "/v1/admin/webhooks", map[string]any{"url": u, "secret": "hook-secret"})
		if status != http.StatusBadRequest || !strings.Contains(body, "allowPrivateWebhooks") {
			t.Errorf("create %s: HTTP %d %s, want 400 naming allowPrivateWebhooks", u, status, body)
		}
	}
	if status, body := post("POST", "/v1/admin/webhooks", map[string]any{"id": "public", "url": "https://hooks.example.com/x", "secret": "hook-secret"}); status != http.StatusOK {
		t.Fatalf("create a public webhook: HTTP %d %s", status, body)
	}
	if status, body := post("PUT", "/v1/admin/webhooks/public", map[string]any{"url": "http://192.168.0.10/x"}); status != http.StatusBadRequest || !strings.Contains(body, "allowPrivateWebhooks") {
		t.Errorf("update to a private address: HTTP %d %s, want 400", status, body)
	}

	// A name is judged where it leads, when connecting.
	hookURL := "http://" + net.JoinHostPort(name, port) + "/inside"
	if status, body := post("PUT", "/v1/admin/webhooks/public", map[string]any{"url": hookURL}); status != http.StatusOK {
		t.Fatalf("update to %s: HTTP %d %s", hookURL, status, body)
	}
	liveChat(t, gw)
	var list []model.OutboxEntry
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		var err error
		if list, err = gw.Store().ListOutbox(context.Background(), model.OutboxPending, 0, 100); err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			if e.Attempts < 2 {
				return false
			}
		}
		return len(list) > 0
	})
	for _, e := range list {
		if !strings.HasPrefix(e.LastError, "refused: the destination is a loopback, private or link-local address") || e.LastStatus != 0 {
			t.Errorf("delivery to %s: status %d, error %q, want refused", hookURL, e.LastStatus, e.LastError)
			break
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the receiver on %s was reached %d times", ln.Addr(), n)
	}
}

// TestWebhooks_AttemptErrorsHidePortState: with private destinations
// allowed, a closed port is recorded as "no HTTP answer", never as the
// dial error that tells a closed port from a filtered one or from another
// protocol.
func TestWebhooks_AttemptErrorsHidePortState(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	gw := servertest.Start(t, servertest.Options{Webhooks: fast, Config: testConfig()})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	b, _ := json.Marshal(map[string]any{"id": "closed", "url": "http://" + closed + "/hook", "secret": "hook-secret"})
	req, _ := http.NewRequest("POST", gw.URL+"/v1/admin/webhooks", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if r := admin.Do(req); r.HTTPStatus != http.StatusOK {
		t.Fatalf("create: HTTP %d %s", r.HTTPStatus, r.Body)
	}
	liveChat(t, gw)
	var list []model.OutboxEntry
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		list, _ = gw.Store().ListOutbox(context.Background(), model.OutboxPending, 0, 100)
		for _, e := range list {
			if e.Attempts < 1 {
				return false
			}
		}
		return len(list) > 0
	})
	for _, e := range list {
		if e.LastError != "no HTTP answer (connection, TLS or timeout; the gateway's log has the cause)" {
			t.Errorf("attempt to a closed port recorded as %q", e.LastError)
			break
		}
	}
}
