package webchat_test

import (
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestQueuePosition_RecentWait: a waiting visitor learns the median wait of
// the last chats served from its queue (recentWait, seconds) once three were
// served, and nothing before.
func TestQueuePosition_RecentWait(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Agents[0].MaxChats = 3
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Now: clk.Now})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	type position struct {
		Position   int    `json:"position"`
		RecentWait *int64 `json:"recentWait"`
	}
	start := func() *wiretest.HTTP {
		var st struct{ Token string }
		guest.Command("WebChatService.startChat", map[string]any{"nickname": "Q"}).Into(t, &st)
		return guest.WithToken(st.Token)
	}

	// Three chats wait 120 s, 60 s and 10 s for Ann.
	var waiting []*wiretest.HTTP
	for _, d := range []time.Duration{60 * time.Second, 50 * time.Second, 10 * time.Second} {
		waiting = append(waiting, start())
		clk.Add(d)
	}
	var p position
	waiting[2].Command("WebChatService.getQueuePosition", nil).Into(t, &p)
	if p.Position != 3 || p.RecentWait != nil {
		t.Fatalf("third visitor: %+v, want position 3 and no recent wait yet", p)
	}
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		for _, w := range waiting {
			var p position
			w.Command("WebChatService.getQueuePosition", nil).Into(t, &p)
			if p.Position != 0 {
				return false
			}
		}
		return true
	})

	// Ann is full: the next visitor waits, and hears the median, 60 s.
	next := start()
	next.Command("WebChatService.getQueuePosition", nil).Into(t, &p)
	if p.Position != 1 || p.RecentWait == nil || *p.RecentWait != 60 {
		t.Fatalf("next visitor: position %d, recentWait %v; want 1 and 60", p.Position, show(p.RecentWait))
	}
}

func show(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
