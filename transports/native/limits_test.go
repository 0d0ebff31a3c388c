package native_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestRateLimits: past the per-token or per-IP rate the gateway answers 429
// in the wire envelope with a Retry-After, and other tokens are unaffected.
func TestRateLimits(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerToken, cfg.Limits.RatePerIP = 5, 1000
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var a, b struct{ Token string }
	guest.Command("WebChatService.startChat", nil).Into(t, &a)
	guest.Command("WebChatService.startChat", nil).Into(t, &b)

	va := guest.WithToken(a.Token)
	var limited *wiretest.Reply
	for i := 0; i < 50 && limited == nil; i++ {
		r := va.Command("WebChatService.getTranscript", nil)
		if r.HTTPStatus == http.StatusTooManyRequests {
			limited = &r
		}
	}
	if limited == nil {
		t.Fatal("50 commands in a burst on one token were never limited at 5/s")
	}
	if rej := limited.Rejected(t); rej.Code != "rate_limited" {
		t.Fatalf("429 body: %+v", rej)
	}
	if s, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || s < 0 || s > 1 {
		t.Fatalf("Retry-After = %q, want whole seconds within the 1 s window", limited.Header.Get("Retry-After"))
	}
	// Another visitor's token has its own budget.
	guest.WithToken(b.Token).Command("WebChatService.getTranscript", nil).Resolved(t)

	cfg2 := config.Demo()
	cfg2.Limits.RatePerToken, cfg2.Limits.RatePerIP = -1, 5
	gw2 := servertest.Start(t, servertest.Options{Config: &cfg2})
	c := wiretest.NewHTTP(t, gw2.URL).WithDeployment("demo")
	got := 0
	for range 50 {
		if c.Command("WebChatService.verifySession", nil).HTTPStatus == http.StatusTooManyRequests {
			got++
		}
	}
	if got == 0 {
		t.Fatal("50 requests in a burst from one IP were never limited at 5/s")
	}
}
