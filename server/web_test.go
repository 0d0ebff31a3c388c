package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

func head(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestWeb_DemoPagesOnlyInTheDemo: /demo/ is served by the demo setup and is
// not found on a configured gateway, however its path is written; the
// console and the bus are served by both.
func TestWeb_DemoPagesOnlyInTheDemo(t *testing.T) {
	demo := servertest.Start(t, servertest.Options{})
	cfg := config.Demo()
	cfg.Demo = false
	configured := servertest.Start(t, servertest.Options{Config: &cfg})
	for _, path := range []string{"/demo/", "/demo/async/", "/demo/crossorigin.html", "/demo/demo.js", "/demo/index.html"} {
		if got := head(t, demo.URL+path).StatusCode; got != http.StatusOK {
			t.Errorf("demo setup: GET %s = %d, want 200", path, got)
		}
	}
	for _, path := range []string{"/demo", "/demo/", "/demo/async/", "/demo/crossorigin.html", "/demo/demo.js",
		"/demo/index.html", "/DEMO/index.html", "/./demo/index.html", "/agent/../demo/index.html", "/%64emo/index.html", "//demo/index.html"} {
		if got := head(t, configured.URL+path).StatusCode; got != http.StatusNotFound {
			t.Errorf("configured gateway: GET %s = %d, want 404", path, got)
		}
	}
	for _, path := range []string{"/agent/", "/widgets/cxbus.js"} {
		if got := head(t, configured.URL+path).StatusCode; got != http.StatusOK {
			t.Errorf("configured gateway: GET %s = %d, want 200", path, got)
		}
	}
}

// TestWeb_SecurityHeaders: every page and script, and every other answer,
// carries the policy (script and style from the gateway only, no inline
// script or eval, framed by the gateway and the configured ancestors),
// nosniff and a referrer policy; the bus script may be loaded by any site.
func TestWeb_SecurityHeaders(t *testing.T) {
	cfg := config.Demo()
	cfg.FrameAncestors = []string{"https://intranet.example", "https://*.example.com"}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	for _, path := range []string{"/agent/", "/agent/console.js", "/agent/console.css", "/widgets/cxbus.js", "/demo/",
		"/demo/setup.js", "/healthz", "/v1/nothing", "/nothing"} {
		resp := head(t, gw.URL+path)
		csp := resp.Header.Get("Content-Security-Policy")
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[name] = value
		}
		for name, want := range map[string]string{
			"script-src":      "'self'",
			"style-src":       "'self'",
			"object-src":      "'none'",
			"frame-ancestors": "'self' https://intranet.example https://*.example.com",
		} {
			if directives[name] != want {
				t.Errorf("GET %s: %s %q, want %q (policy %q)", path, name, directives[name], want, csp)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: the policy allows something unsafe: %q", path, csp)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
		if got := resp.Header.Get("Referrer-Policy"); got != "strict-origin-when-cross-origin" {
			t.Errorf("GET %s: Referrer-Policy %q", path, got)
		}
	}
	bus := head(t, gw.URL+"/widgets/cxbus.js")
	if ct := bus.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("cxbus.js: Content-Type %q: nosniff needs a script type", ct)
	}
	if bus.Header.Get("Access-Control-Allow-Origin") != "*" || bus.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" {
		t.Errorf("cxbus.js: CORS %q, CORP %q: other sites' pages must be able to load it",
			bus.Header.Get("Access-Control-Allow-Origin"), bus.Header.Get("Cross-Origin-Resource-Policy"))
	}
	if got := head(t, gw.URL+"/agent/").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("the console: Access-Control-Allow-Origin %q, want none", got)
	}
}
