package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/server/servertest"
)

// TestGatewayPagesScriptOnlyFromItself: the gateway's pages run under their
// Content-Security-Policy without a violation (every test's browser fails on
// one), the policy is in force (an inline script is blocked), and the
// cross-origin demo opened with a hostile ?gw= still loads the bus from the
// gateway: the attacker's server is never asked for a script.
func TestGatewayPagesScriptOnlyFromItself(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{}) // the demo setup
	var asked atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write([]byte(`window.__pwned = sessionStorage.length + 1;`))
	}))
	t.Cleanup(attacker.Close)
	ctx := newBrowser(t)

	navigate(t, ctx, gw.URL+"/demo/crossorigin.html?gw="+attacker.URL+"#gw="+attacker.URL)
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Ready.'`, "the cross-origin demo ready on the gateway's own bus")
	if got := eval[string](t, ctx, `document.querySelector('script[src$="widgets/cxbus.js"]').src`); got != gw.URL+"/widgets/cxbus.js" {
		t.Errorf("the demo loaded the bus from %s", got)
	}
	if eval[bool](t, ctx, `window.__pwned !== undefined`) || asked.Load() != 0 {
		t.Errorf("the attacker's server was asked %d times (script ran: %v)", asked.Load(), eval[bool](t, ctx, `window.__pwned !== undefined`))
	}

	// The default window, styled on a strict page: its styles are not an
	// inline <style> that the policy would block.
	do(t, ctx, chromedp.Click(chromedp.ID("open-window")))
	waitJS(t, ctx, `document.querySelector('.cxgw-root') && getComputedStyle(document.querySelector('.cxgw-root')).position === 'fixed'`, "the chat window, styled")

	// The policy is in force: an inline script does not run.
	eval[any](t, ctx, `window.__cspExpected = true, (function () { var s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.body.appendChild(s); })(), null`)
	waitJS(t, ctx, `(window.__cspBlocked || []).indexOf('script-src-elem') >= 0`, "the inline script reported blocked")
	if eval[bool](t, ctx, `window.__inline !== undefined`) {
		t.Error("an inline script ran on a gateway page")
	}

	// The other pages load under the policy with no violation.
	navigate(t, ctx, gw.URL+"/demo/async/")
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Ready.'`, "the async demo ready")
	navigate(t, ctx, gw.URL+"/agent/")
	do(t, ctx, sendKeys("#token", gw.AgentToken+"\r"))
	waitJS(t, ctx, `document.getElementById('conn').textContent === 'connected'`, "the console signed in and connected")
}
