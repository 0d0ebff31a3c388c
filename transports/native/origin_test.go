package native_test

import (
	"net/http"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/transports/native"
)

// TestOrigins_PerDeployment: a page on the origin of one deployment cannot
// follow a chat of another, over the long-poll or the socket, although the
// socket upgrade itself passes (the origin is allowed for some deployment).
func TestOrigins_PerDeployment(t *testing.T) {
	const shop, blog = "https://shop.example", "https://blog.example"
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	for i := range cfg.Deployments {
		switch cfg.Deployments[i].Key {
		case "demo":
			cfg.Deployments[i].Origins = []string{shop}
		case "demo-async":
			cfg.Deployments[i].Origins = []string{blog}
		}
	}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})

	page := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	page.Origin = shop
	var st struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	page.Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Into(t, &st)
	visitor := page.WithToken(st.Token)
	wantRejection := wiretest.Error{Code: "origin_not_allowed", Message: "This page's origin is not allowed for the deployment."}

	t.Run("LongPoll", func(t *testing.T) {
		if res := visitor.Poll(0, 0); len(res.Events) == 0 {
			t.Errorf("long-poll from %s: no events", shop)
		}
		other := visitor.WithToken(st.Token)
		other.Origin = blog
		req, err := http.NewRequest(http.MethodGet, gw.URL+"/v1/events?after=0&wait=0", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := other.Send(req)
		var r wiretest.Reply
		wiretest.Decode(t, body, &r)
		if resp.StatusCode != http.StatusForbidden || r.Status != "rejected" || r.Error == nil || *r.Error != wantRejection {
			t.Errorf("long-poll of a demo chat from %s: HTTP %d %s, want 403 %+v", blog, resp.StatusCode, body, wantRejection)
		}
	})

	t.Run("Socket", func(t *testing.T) {
		good := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{Header: http.Header{"Origin": {shop}}})
		var welcome struct {
			ChatID string `json:"chatId"`
		}
		wiretest.Decode(t, good.MustAuth(st.Token, 0), &welcome)
		if welcome.ChatID != st.ChatID {
			t.Errorf("socket from %s: welcome for chat %q, want %q", shop, welcome.ChatID, st.ChatID)
		}
		good.Expect("WebChatService.started")

		bad := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{Header: http.Header{"Origin": {blog}}})
		r := bad.Auth(st.Token, 0)
		if e := r.Rejected(t); e != wantRejection {
			t.Errorf("socket auth of a demo chat from %s: %+v, want %+v", blog, e, wantRejection)
		}
		if code, _ := bad.WaitClose(wiretest.Timeout); code != native.CloseAuthFailed {
			t.Errorf("socket auth of a demo chat from %s: close %d, want %d", blog, code, native.CloseAuthFailed)
		}
		if evs := bad.Drain(); len(evs) != 0 {
			t.Errorf("socket from %s received events of the demo chat: %v", blog, evs)
		}
	})
}
