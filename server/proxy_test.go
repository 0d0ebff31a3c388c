package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

// shopOnly is the demo setup with every deployment open to one shop only,
// changed by edit.
func shopOnly(edit func(*config.Config)) *config.Config {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	for i := range cfg.Deployments {
		cfg.Deployments[i].Origins = []string{"https://shop.example"}
	}
	if edit != nil {
		edit(&cfg)
	}
	return &cfg
}

// send posts body to url with the headers, and returns the status and body.
func send(t *testing.T, url, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const nativeStart = `{"deployment":"demo","command":"WebChatService.startChat","options":{"nickname":"Eve"}}`

const guestStart = `{"organizationId":"org","deploymentId":"demo","routingTarget":{"targetType":"QUEUE","targetAddress":"support"},
 "memberInfo":{"displayName":"Eve","role":"CUSTOMER"}}`

// streamOf starts a guest chat and returns its eventStreamUri, or fails.
func streamOf(t *testing.T, gw *servertest.Gateway, headers map[string]string) string {
	t.Helper()
	status, body := send(t, gw.URL+"/api/v2/webchat/guest/conversations", guestStart, headers)
	var r struct {
		URI string `json:"eventStreamUri"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("guest startChat with %v: HTTP %d %s", headers, status, body)
	}
	uri, _, _ := strings.Cut(r.URI, "/api/v2/")
	return uri
}

// TestProxies_ForwardedHeadersFromAnyone: without trusted proxies, a
// client's X-Forwarded-Host and -Proto are not believed. They once made a
// hostile page's origin pass as the gateway's own, and put the visitor's
// jwt in an eventStreamUri on the attacker's host.
func TestProxies_ForwardedHeadersFromAnyone(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: shopOnly(nil)})
	evil := map[string]string{"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
	for _, path := range []string{"/v1/command", "/api/v2/webchat/guest/conversations"} {
		body := nativeStart
		if strings.HasPrefix(path, "/api/") {
			body = guestStart
		}
		if status, got := send(t, gw.URL+path, body, evil); status != http.StatusForbidden || !strings.Contains(got, "origin_not_allowed") {
			t.Errorf("POST %s from a hostile page claiming the gateway's host: HTTP %d %s, want 403 origin_not_allowed", path, status, got)
		}
	}
	if status, got := send(t, gw.URL+"/genesys/2/chat/demo", "nickname=Eve", map[string]string{"Origin": "http://evil.example",
		"X-Forwarded-Host": "evil.example", "Content-Type": "application/x-www-form-urlencoded"}); status != http.StatusForbidden {
		t.Errorf("GMS startChat from a hostile page claiming the gateway's host: HTTP %d %s, want 403", status, got)
	}
	if got, want := streamOf(t, gw, map[string]string{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}), "ws://"+gw.Addr; got != want {
		t.Errorf("eventStreamUri on %s, want %s: forwarded headers believed from a client", got, want)
	}
	// The gateway's own pages still pass, by the Host they were loaded from.
	if status, got := send(t, gw.URL+"/v1/command", nativeStart, map[string]string{"Origin": gw.URL}); status != http.StatusOK {
		t.Errorf("startChat from the gateway's own page: HTTP %d %s", status, got)
	}
}

// TestProxies_Trusted: behind a trusted proxy, the forwarded host and
// scheme make the gateway's public origin and URLs, and X-Forwarded-For the
// client's address for per-IP limits: the right-most address not a proxy,
// so a client cannot pick its own by writing the header itself.
func TestProxies_Trusted(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: shopOnly(func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.0/8", "10.0.0.1"}
		c.Limits.RatePerIP = 3
	})})
	proxied := map[string]string{"Origin": "https://chat.example", "X-Forwarded-Host": "chat.example", "X-Forwarded-Proto": "https"}
	if status, got := send(t, gw.URL+"/v1/command", nativeStart, proxied); status != http.StatusOK {
		t.Errorf("startChat from the gateway's own page behind its proxy: HTTP %d %s", status, got)
	}
	if got, want := streamOf(t, gw, map[string]string{"X-Forwarded-Host": "chat.example", "X-Forwarded-Proto": "https"}), "wss://chat.example"; got != want {
		t.Errorf("eventStreamUri on %s behind the proxy, want %s", got, want)
	}

	limited := func(xff string) int {
		status, _ := send(t, gw.URL+"/v1/command", `{"deployment":"demo","command":"WebChatService.getAvailability","options":{}}`,
			map[string]string{"X-Forwarded-For": xff})
		return status
	}
	// Each client has its own budget of 3 a second...
	for i := range 3 {
		for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
			if s := limited(client); s == http.StatusTooManyRequests {
				t.Fatalf("request %d of %s: 429 within its budget: the clients share one", i+1, client)
			}
		}
	}
	// ...which addresses the client wrote left of it do not renew, through
	// one proxy (10.0.0.1) or none.
	n429 := 0
	for i := range 6 {
		if limited(fmt.Sprintf("198.51.100.%d, 203.0.113.1, 10.0.0.1", i)) == http.StatusTooManyRequests {
			n429++
		}
	}
	if n429 == 0 {
		t.Error("a client escaped its per-IP limit by writing addresses in X-Forwarded-For")
	}
}

// TestProxies_PublicURL: with publicURL, the public URLs and the gateway's
// own origin are publicURL's, whatever the request's Host or forwarded
// headers say, from a trusted proxy included.
func TestProxies_PublicURL(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: shopOnly(func(c *config.Config) {
		c.PublicURL = "https://chat.example"
		c.TrustedProxies = []string{"127.0.0.1"}
	})})
	for _, h := range []map[string]string{nil, {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}, {"Host": "evil.example"}} {
		if got := streamOf(t, gw, h); got != "wss://chat.example" {
			t.Errorf("eventStreamUri on %s with %v, want wss://chat.example", got, h)
		}
	}
	if status, got := send(t, gw.URL+"/v1/command", nativeStart, map[string]string{"Origin": "https://chat.example"}); status != http.StatusOK {
		t.Errorf("startChat from the public origin's own page: HTTP %d %s", status, got)
	}
	for _, h := range []map[string]string{
		{"Origin": gw.URL},
		{"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
		{"Origin": "http://evil.example", "Host": "evil.example"},
	} {
		if status, got := send(t, gw.URL+"/v1/command", nativeStart, h); status != http.StatusForbidden {
			t.Errorf("startChat with %v: HTTP %d %s, want 403: only publicURL is the gateway's own origin", h, status, got)
		}
	}
}
