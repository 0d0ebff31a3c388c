package gms_test

import (
	"net/http"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestChatBudgetOnlyAfterAuthentication: requests that name a chat in their
// URL with a wrong secureKey spend their IP's budget only, never the chat's:
// a stranger flooding the chat's URL does not lock its visitor out.
func TestChatBudgetOnlyAfterAuthentication(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = 1000, 5
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	c, _ := requestChat(t, gw.URL)
	for range 50 {
		if e := c.op(t, "refresh", "secureKey", "garbage", "transcriptPosition", "1"); e.status != http.StatusUnauthorized {
			t.Fatalf("a wrong secureKey: HTTP %d %s, want 401", e.status, e.raw)
		}
	}
	mustOK(t, c.op(t, "refresh", "transcriptPosition", "1"))
}
