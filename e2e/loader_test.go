package e2e

import (
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestLoader_Browser: a page on another origin with only the loader tag gets
// the bus from the gateway, wired to it, and then the Chat Manager; a page
// that set its own transport keeps it; a disabled deployment and one in
// maintenance load nothing and say why at debug level.
func TestLoader_Browser(t *testing.T) {
	p := newPages(t)
	cfg, err := config.Parse(strings.NewReader(`
queues: [{name: support}]
agents: [{id: ann, name: Ann, token: ann-secret}]
deployments:
  - {key: shop, queue: support, origins: ["` + p.URL + `"]}
  - {key: closed, queue: support, origins: ["` + p.URL + `"], enabled: false}
  - {key: upgrading, queue: support, origins: ["` + p.URL + `"], maintenance: true, maintenanceReason: "Back at 10:00"}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	page := func(path, deployment, before string) string {
		// The test's own script records console.debug; a site needs none.
		return p.add(path, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>shop</title>
<script>window.__debug = []; console.debug = function () { window.__debug.push([].join.call(arguments, ' ')); };</script>`+before+`
<script src="`+gw.URL+`/widgets/loader.js?deployment=`+deployment+`" async></script>
</head><body><h1>A shop</h1></body></html>`)
	}
	ctx := newBrowser(t)
	scripts := `Array.prototype.map.call(document.scripts, function (s) { return s.src; }).join(' ')`

	navigate(t, ctx, page("/shop", "shop", ""))
	waitJS(t, ctx, `!!window.CXBus && !!window._genesys.widgets.bus`, "the bus loaded by the loader")
	waitJS(t, ctx, scripts+`.includes(`+jsString(gw.URL+"/widgets/chatmanager.js")+`)`, "the Chat Manager's script after the bus")
	if got := eval[string](t, ctx, `JSON.stringify(window._genesys.widgets.webchat.transport)`); got != `{"type":"cxgate","dataURL":"`+gw.URL+`","deploymentKey":"shop"}` {
		t.Errorf("transport = %s", got)
	}
	if got := eval[string](t, ctx, `window._cxgate.proactive.deployment + ' ' + window._cxgate.proactive.gateway`); got != "shop "+gw.URL {
		t.Errorf("published configuration: %s", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('script[src$="/widgets/cxbus.js"]').length`); n != 1 {
		t.Errorf("%d cxbus.js tags", n)
	}

	navigate(t, ctx, page("/own", "shop", `<script>window._genesys = {widgets: {webchat: {transport: {type: 'cxgate', dataURL: 'https://elsewhere.example', deploymentKey: 'mine'}}}};</script>`))
	waitJS(t, ctx, `!!window.CXBus`, "the bus")
	if got := eval[string](t, ctx, `window._genesys.widgets.webchat.transport.dataURL + ' ' + window._genesys.widgets.webchat.transport.deploymentKey`); got != "https://elsewhere.example mine" {
		t.Errorf("the page's own transport became %s", got)
	}

	for _, tc := range []struct{ deployment, says string }{
		{"closed", "cxgate: chat disabled for deployment closed"},
		{"upgrading", "cxgate: chat in maintenance for deployment upgrading: Back at 10:00"},
	} {
		navigate(t, ctx, page("/"+tc.deployment, tc.deployment, ""))
		waitJS(t, ctx, `document.readyState === 'complete' && window.__debug.length > 0`, tc.deployment+": the loader's debug line")
		if got := eval[string](t, ctx, `window.__debug.join('|')`); got != tc.says {
			t.Errorf("%s: console.debug %q, want %q", tc.deployment, got, tc.says)
		}
		if got := eval[string](t, ctx, scripts); strings.Contains(got, "cxbus.js") || strings.Contains(got, "chatmanager.js") {
			t.Errorf("%s: scripts loaded: %s", tc.deployment, got)
		}
		if eval[bool](t, ctx, `!!window.CXBus || !!(window._genesys && window._genesys.widgets)`) {
			t.Errorf("%s: the loader set up the bus", tc.deployment)
		}
	}
}
