package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestOfflineDuringAssignment: an agent that goes offline while routing is
// giving it chats keeps none of them. Visitors start chats while the agent
// toggles online and offline; once it is offline for good, no open chat may
// have it connected, or that visitor would wait for nobody.
func TestOfflineDuringAssignment(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Agents = []config.Agent{{ID: "ann", Name: "Ann", Token: "ann-token-1", MaxChats: 99}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-token-1")

	var chats []string
	var mu sync.Mutex
	for range 20 {
		// Online with chats waiting, then offline while they are routed.
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
				var st struct{ ChatID string }
				guest.Command("WebChatService.startChat", map[string]any{"nickname": "v"}).Into(t, &st)
				mu.Lock()
				chats = append(chats, st.ChatID)
				mu.Unlock()
			})
		}
		wg.Wait()
		ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
		ann.Command("AgentService.setStatus", map[string]string{"status": "offline"}).Resolved(t)
	}
	// Requeues are written after the status changes: give them time, then
	// no open chat may still hold Ann.
	held := func() (ids []string) {
		for _, id := range chats {
			c, err := gw.Store().Chat(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.Participants {
				if p.ID == "ann" && p.Connected() && c.State != model.StateEnded {
					ids = append(ids, id+" ("+string(c.State)+")")
				}
			}
		}
		return ids
	}
	deadline := time.Now().Add(wiretest.Timeout)
	for len(held()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if ids := held(); len(ids) > 0 {
		t.Errorf("%d of %d chats still have offline Ann connected: %v", len(ids), len(chats), ids)
	}
}
