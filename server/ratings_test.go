package server_test

import (
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestRatingsMetric: cxgate_chat_ratings_total counts the ratings visitors
// give, by value, every value exposed from 0; a refused second rating
// counts nothing.
func TestRatingsMetric(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	rate := func(rating int) {
		guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
		var st struct{ Token string }
		guest.Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Into(t, &st)
		v := guest.WithToken(st.Token)
		v.Command("WebChatService.endChat", nil).Resolved(t)
		v.Command("WebChatService.rateChat", map[string]any{"rating": rating, "comment": "ok"}).Resolved(t)
		v.Command("WebChatService.rateChat", map[string]any{"rating": 1}).Rejected(t)
	}
	rate(2)
	rate(5)
	rate(5)
	_, body := get(t, gw.URL+"/metrics", "")
	for _, want := range []string{
		`cxgate_chat_ratings_total{rating="1"} 0`, `cxgate_chat_ratings_total{rating="2"} 1`,
		`cxgate_chat_ratings_total{rating="3"} 0`, `cxgate_chat_ratings_total{rating="4"} 0`,
		`cxgate_chat_ratings_total{rating="5"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
