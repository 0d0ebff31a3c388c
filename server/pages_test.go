package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/server/servertest"
)

// noFollow answers the first response, redirects included.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := noFollow.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestPages: / names the gateway and links to the console (or, in the demo
// setup, leads to the demo page); a page's directory without its slash
// redirects to it with the slash, so its relative CSS and script load.
func TestPages(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	resp, body := fetch(t, gw.URL+"/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "cxgate") || !strings.Contains(body, `href="/agent/"`) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: HTTP %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Errorf("GET / has inline script or style: %s", body)
	}
	for from, to := range map[string]string{
		"/agent":             "/agent/",
		"/demo":              "/demo/",
		"/demo/async":        "/demo/async/",
		"/demo/async?lang=x": "/demo/async/?lang=x",
	} {
		resp, _ := fetch(t, gw.URL+from)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != to {
			t.Errorf("GET %s: HTTP %d to %q, want 301 to %s", from, resp.StatusCode, resp.Header.Get("Location"), to)
		}
	}
	// The page after the redirect loads its own files.
	if resp, body := fetch(t, gw.URL+"/agent/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("GET /agent/: HTTP %d", resp.StatusCode)
	}
	// Files and unknown paths are left alone.
	if resp, _ := fetch(t, gw.URL+"/widgets/cxbus.js"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /widgets/cxbus.js: HTTP %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, gw.URL+"/nowhere"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nowhere: HTTP %d, want 404", resp.StatusCode)
	}

	demo := servertest.Start(t, servertest.Options{Demo: true})
	if resp, _ := fetch(t, demo.URL+"/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/demo/" {
		t.Errorf("GET / in the demo setup: HTTP %d to %q, want 302 to /demo/", resp.StatusCode, resp.Header.Get("Location"))
	}
}
