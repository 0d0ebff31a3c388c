package server_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/server/servertest"
)

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

// TestOperationsMetrics drives a gateway on a stopped clock through waiting,
// routing and answering, and reads every series DESIGN.md "Operations"
// names, with its value, from /metrics; and the logs of an admin change and
// of failed authentications.
func TestOperationsMetrics(t *testing.T) {
	var ms atomic.Int64
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(ms.Load()) * time.Millisecond) }
	advance := func(d time.Duration) { ms.Add(d.Milliseconds()) }
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-secret", MaxChats: 2},
		{ID: "bob", Name: "Bob", Token: "bob-secret", MaxChats: 3},
		{ID: "cy", Name: "Cy", Token: "cy-secret", MaxChats: 4},
	}
	var logs logBuffer
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Now: now,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/admin/queues", strings.NewReader(`{"name":"sales"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, body := admin.Send(req); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("create queue: HTTP %d %s", resp.StatusCode, body)
	}

	// Two visitors wait: the first 30 s, the second 20 s; the first writes.
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var first, second struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", nil).Into(t, &first)
	advance(10 * time.Second)
	guest.Command("WebChatService.startChat", nil).Into(t, &second)
	advance(20 * time.Second)
	guest.WithToken(first.Token).Command("WebChatService.sendMessage", map[string]any{"message": "hello?"}).Resolved(t)
	// Rejections: a command refused, a token refused, a path that is not one.
	guest.WithToken(first.Token).Command("WebChatService.poll", nil).Rejected(t)
	wiretest.NewHTTP(t, gw.URL).WithToken("not-a-token").Command("AgentService.getStatus", nil).Rejected(t)
	wiretest.NewHTTP(t, gw.URL).WithToken("not-a-token-either").Command("AgentService.getStatus", nil).Rejected(t)
	if code, _ := get(t, gw.URL+"/v1/nowhere", ""); code != http.StatusNotFound {
		t.Fatalf("/v1/nowhere: HTTP %d", code)
	}
	expectMetrics(t, gw.URL, []string{
		`cxgate_queue_waiting{queue="support"} 2`,
		`cxgate_queue_waiting{queue="sales"} 0`,
		`cxgate_queue_oldest_wait_seconds{queue="support"} 30`,
		`cxgate_queue_oldest_wait_seconds{queue="sales"} 0`,
		`cxgate_agents{status="online"} 0`,
		`cxgate_agents{status="offline"} 3`,
		`cxgate_agent_free_slots 0`,
		`cxgate_chat_wait_seconds_count 0`,
		`cxgate_chats_active{deployment="demo",mode="live"} 0`,
		`cxgate_chats_active{deployment="demo-async",mode="async"} 0`,
		`cxgate_rejections_total{code="access_denied"} 1`,
		`cxgate_rejections_total{code="unauthorized"} 2`,
		`cxgate_rejections_total{code="not_found"} 1`,
		`cxgate_build_info{version="` + server.Version() + `"} 1`,
	})

	// Ann comes online 40 s after the first chat and takes both; Bob is away.
	advance(10 * time.Second)
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret").Command("AgentService.setStatus", map[string]string{"status": "away"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		return gw.Engine().IsParticipant(first.ChatID, "ann") && gw.Engine().IsParticipant(second.ChatID, "ann")
	})
	// She answers the first 15 s after joining: 25 s after its question. The
	// internal note she wrote before is no answer.
	advance(5 * time.Second)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": "regular customer", "internal": true}).Resolved(t)
	advance(10 * time.Second)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": "Hi!"}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": "How can I help?"}).Resolved(t)
	expectMetrics(t, gw.URL, []string{
		`cxgate_queue_waiting{queue="support"} 0`,
		`cxgate_queue_oldest_wait_seconds{queue="support"} 0`,
		`cxgate_agents{status="online"} 1`,
		`cxgate_agents{status="away"} 1`,
		`cxgate_agents{status="offline"} 1`,
		`cxgate_agent_free_slots 0`,
		`cxgate_chats_active{deployment="demo",mode="live"} 2`,
		`cxgate_chat_wait_seconds_count 2`,
		`cxgate_chat_wait_seconds_sum 70`, // 40 s and 30 s
		`cxgate_chat_wait_seconds_bucket{le="30"} 1`,
		`cxgate_first_response_seconds_count 1`,
		`cxgate_first_response_seconds_sum 25`,
	})
	code, body := get(t, gw.URL+"/metrics", "")
	if code != http.StatusOK || !strings.Contains(body, "\ncxgate_store_bytes ") || strings.Contains(body, "\ncxgate_store_bytes 0\n") {
		t.Errorf("/metrics lacks a store size:\n%s", grep(body, "cxgate_store"))
	}

	out := logs.String()
	for _, want := range []string{
		`msg="admin change" action=created kind=queue id=sales by=admin`,
		`msg="authentication failed" code=unauthorized failures=1`,
		`level=DEBUG msg="chat started"`,
		`level=DEBUG msg="agent joined chat"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// The second refused token within the interval is counted, not logged.
	if n := strings.Count(out, `msg="authentication failed"`); n != 1 {
		t.Errorf("%d lines for two failed authentications in a row, want 1", n)
	}
}

func expectMetrics(t *testing.T, url string, want []string) {
	t.Helper()
	code, body := get(t, url+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, w := range want {
		if !strings.Contains(body, "\n"+w+"\n") {
			name, _, _ := strings.Cut(w, "{")
			name, _, _ = strings.Cut(name, " ")
			t.Errorf("/metrics lacks %s; it has:\n%s", w, grep(body, strings.TrimSuffix(strings.TrimSuffix(name, "_count"), "_sum")))
		}
	}
}

func grep(body, prefix string) string {
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
