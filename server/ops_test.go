package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestOperations covers the operator's surface: Prometheus metrics that
// move with real traffic, pprof only behind the admin token, and readiness
// that fails once the store's writer is gone.
func TestOperations(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	v := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ Token string }
	v.Command("WebChatService.startChat", map[string]any{"nickname": "m"}).Into(t, &st)
	v.WithToken(st.Token).Command("WebChatService.sendMessage", map[string]any{"message": "hello"}).Resolved(t)
	v.WithToken(st.Token).Command("WebChatService.poll", nil).Rejected(t)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(st.Token, 0)

	code, body := get(t, gw.URL+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, want := range []string{
		`cxgate_commands_total{command="WebChatService.sendMessage",outcome="resolved"} 1`,
		`cxgate_commands_total{command="WebChatService.poll",outcome="access_denied"} 1`,
		`cxgate_connections{transport="websocket"} 1`,
		`cxgate_store_commit_duration_seconds_count`,
		`cxgate_http_requests_total{route="/v1/command",status="200"}`,
		`cxgate_bus_subscriptions 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	if code, _ := get(t, gw.URL+"/v1/admin/debug/pprof/", ""); code != http.StatusUnauthorized {
		t.Errorf("pprof without a token: HTTP %d, want 401", code)
	}
	if code, _ := get(t, gw.URL+"/v1/admin/debug/pprof/", gw.AgentToken); code != http.StatusUnauthorized {
		t.Errorf("pprof with an agent token: HTTP %d, want 401", code)
	}
	if code, body := get(t, gw.URL+"/v1/admin/debug/pprof/", gw.AdminToken); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof with the admin token: HTTP %d", code)
	}

	if code, body := get(t, gw.URL+"/healthz", ""); code != http.StatusOK || body != `{"status":"ok"}` {
		t.Errorf("/healthz: HTTP %d %s", code, body)
	}
	if code, _ := get(t, gw.URL+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz while healthy: HTTP %d", code)
	}
	if err := gw.Store().Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, gw.URL+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "store") {
		t.Fatalf("/readyz with the store closed: HTTP %d %s, want 503 naming the store", code, body)
	}
	// Liveness is the process answering, whatever the store's state.
	if code, body := get(t, gw.URL+"/healthz", ""); code != http.StatusOK || body != `{"status":"ok"}` {
		t.Errorf("/healthz with the store closed: HTTP %d %s, want 200 {\"status\":\"ok\"}", code, body)
	}
}
