package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/web"
)

// waitTimeout bounds every wait on the browser or an agent.
const waitTimeout = 20 * time.Second

// ---- the browser

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns the
// context of its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("e2e: no Chromium found (set CHROMIUM); browser tests are required on CI")
		}
		t.Skip("e2e: no Chromium found; set CHROMIUM to run the browser tests")
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // as root in containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("e2e: start Chromium: %v", err)
	}
	logConsole(t, ctx, "tab1")
	watchCSP(t, ctx)
	return ctx
}

// newTab opens another tab of the same browser (same profile, same storage).
func newTab(t *testing.T, browser context.Context, name string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("e2e: new tab: %v", err)
	}
	logConsole(t, ctx, name)
	watchCSP(t, ctx)
	return ctx
}

// cspViolation starts the console line of a Content-Security-Policy
// violation, which logConsole turns into a test failure.
const cspViolation = "csp-violation:"

// watchCSP makes every document of the tab report its Content-Security-Policy
// violations on the console (unless the test set window.__cspExpected to
// provoke one: then they go to window.__cspBlocked): a page of the gateway that its own policy
// blocks (an inline script, a style, a connection) fails the test that loads
// it. Pages of the tests' own server carry no policy and report none.
func watchCSP(t *testing.T, ctx context.Context) {
	t.Helper()
	const js = `document.addEventListener('securitypolicyviolation', function (e) {
  if (window.__cspExpected) { window.__cspBlocked = (window.__cspBlocked || []).concat([e.violatedDirective]); return; }
  console.error('` + cspViolation + ` ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	}))
}

// logConsole forwards the page's console errors and uncaught exceptions to
// the test log: they explain most failures.
func logConsole(t *testing.T, ctx context.Context, name string) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() })
	_ = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type != "error" && ev.Type != "warning" {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			line := strings.Join(parts, " ")
			if strings.Contains(line, cspViolation) {
				t.Errorf("[%s] %s", name, line)
				return
			}
			t.Logf("[%s console.%s] %s", name, ev.Type, line)
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			t.Logf("[%s exception] %s", name, msg)
		}
	})
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Navigate(url)); err != nil {
		t.Fatalf("e2e: navigate %s: %v", url, err)
	}
}

// eval runs a JavaScript expression (promises are awaited) and decodes its
// value into T.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("e2e: eval %s: %v", short(js), err)
	}
	return v
}

// sendKeys types text into the element css selects, once it exists and
// takes the focus (a hidden one does not). chromedp.SendKeys reads the
// node's attributes outside their lock while its DOM-event goroutine updates
// them: the race detector failed tests whose page changed an attribute of
// the element being typed into. Focusing in the page and sending the keys to
// the page reads no node.
func sendKeys(css, text string) chromedp.Action[chromedp.Void] {
	focus := `(function (s) { var e = document.querySelector(s); if (!e) return false; e.focus(); return document.activeElement === e; })(` + jsString(css) + `)`
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](focus)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			if ok {
				return chromedp.KeyEvent(text)(ctx, tg)
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("e2e: %v", err)
	}
}

// waitJS polls a JavaScript condition until it is truthy. On a timeout it
// fails with what the page recorded.
func waitJS(t *testing.T, ctx context.Context, cond, what string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	js := "!!(function(){ try { return (" + cond + "); } catch (e) { return false; } })()"
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({events: (window.__events || []).map(function(e){ return e.event + ' ' + JSON.stringify(e.data).slice(0, 200); }), r: window.__r}, null, 1)`))
			t.Fatalf("e2e: timed out waiting for %s (%s); err=%v\nevents: %s", what, cond, err, dump)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the tab as PNG into $E2E_SCREENSHOTS, when set: a look at
// the chat window for humans, never an assertion.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// ---- pages on another origin

// pages is an HTTP server on 127.0.0.1 (an origin other than the gateway's)
// serving test pages and the web/ files.
type pages struct {
	*httptest.Server
	mu    sync.Mutex
	pages map[string]string
}

func newPages(t *testing.T) *pages {
	p := &pages{pages: map[string]string{}}
	files := http.FileServer(http.FS(web.Files()))
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		html, ok := p.pages[r.URL.Path]
		p.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = io.WriteString(w, html)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *pages) add(path, html string) string {
	p.mu.Lock()
	p.pages[path] = html
	p.mu.Unlock()
	return p.URL + path
}

// startGateway runs a demo gateway that accepts the pages' origin.
func startGateway(t *testing.T, p *pages) *servertest.Gateway {
	return servertest.Start(t, servertest.Options{Origins: []string{p.URL}})
}

// recorder is a page script that records every WebChatService event in
// window.__events, with helpers to read them.
const recorder = `
var __rec = window._genesys.widgets.bus.registerPlugin('Recorder');
window.__rec = __rec;
window.__events = [];
['ready','started','restored','restoreFailed','restoreTimeout','messageReceived','error','ended',
 'agentTypingStarted','agentTypingStopped','agentConnected','agentDisconnected','clientConnected',
 'clientDisconnected','clientTypingStarted','clientTypingStopped','disconnected','reconnected',
 'pollingStarted','pollingStopped'].forEach(function (n) {
  __rec.subscribe('WebChatService.' + n, function (e) { window.__events.push({event: e.event, data: e.data, publisher: e.publisher, time: e.time}); });
});
window.__count = function (n) {
  return window.__events.filter(function (e) { return e.event === 'WebChatService.' + n; }).length;
};
// The texts of every Message shown, in order of arrival.
window.__texts = function () {
  var out = [];
  window.__events.forEach(function (e) {
    if (e.event !== 'WebChatService.messageReceived') return;
    e.data.messages.forEach(function (m) { if (m.type === 'Message') out.push(m.text); });
  });
  return out;
};
window.__countText = function (t) {
  return window.__texts().filter(function (x) { return x === t; }).length;
};
// Settles a bus promise into {ok, value} (rejections are values, not throws).
window.__settle = function (p) {
  return new Promise(function (resolve) {
    p.done(function (v) { resolve({ok: true, value: v === undefined ? null : v}); })
     .fail(function (v) { resolve({ok: false, value: v === undefined ? null : v}); });
  });
};
`

// testPage builds a page that configures the bus for deployment, loads
// cxbus.js from scriptBase (the gateway or a proxy of it) and runs the
// recorder, then body's scripts.
func testPage(scriptBase, deployment, webchatExtra, head, body string) string {
	if webchatExtra != "" {
		webchatExtra = ", " + webchatExtra
	}
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>cxgate e2e</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>window.__globalsBefore = Object.getOwnPropertyNames(window);
window._genesys = {widgets: {webchat: {transport: {type: 'cxgate', deploymentKey: '` + deployment + `'}` + webchatExtra + `}}};</script>
` + head + `
<script src="` + scriptBase + `/widgets/cxbus.js"></script>
<script>` + recorder + `</script>
</head><body><h1>test page</h1>` + body + `</body></html>`
}

// ---- an agent on the native wire

type frame struct {
	ID     *int            `json:"id"`
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Event string `json:"event"`
	Seq   uint64 `json:"seq"`
}

type agent struct {
	t       *testing.T
	conn    *websocket.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	nextID  int
	replies map[int]chan frame
	events  chan frame
}

// dialAgent connects as the demo agent "ann" and goes online.
func dialAgent(t *testing.T, gw *servertest.Gateway) *agent {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(gw.WSURL, nil)
	if err != nil {
		t.Fatalf("agent: dial: %v", err)
	}
	a := &agent{t: t, conn: conn, replies: map[int]chan frame{}, events: make(chan frame, 1024)}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.WriteJSON(map[string]any{"id": 0, "auth": map[string]any{"token": "ann-secret", "after": 0}}); err != nil {
		t.Fatalf("agent: auth: %v", err)
	}
	var welcome frame
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if err := conn.ReadJSON(&welcome); err != nil || welcome.Status != "resolved" {
		t.Fatalf("agent: auth answer %+v, %v", welcome, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go a.read()
	a.cmd("AgentService.setStatus", map[string]any{"status": "online"})
	return a
}

func (a *agent) read() {
	for {
		var f frame
		if err := a.conn.ReadJSON(&f); err != nil {
			close(a.events)
			return
		}
		if f.Event != "" {
			a.events <- f
			continue
		}
		if f.ID != nil {
			a.mu.Lock()
			ch := a.replies[*f.ID]
			delete(a.replies, *f.ID)
			a.mu.Unlock()
			if ch != nil {
				ch <- f
			}
		}
	}
}

// cmd runs an agent command and returns its data; a rejection fails the test.
func (a *agent) cmd(name string, opts any) json.RawMessage {
	a.t.Helper()
	a.mu.Lock()
	a.nextID++
	id := a.nextID
	ch := make(chan frame, 1)
	a.replies[id] = ch
	a.mu.Unlock()
	a.wmu.Lock()
	err := a.conn.WriteJSON(map[string]any{"id": id, "command": name, "options": opts})
	a.wmu.Unlock()
	if err != nil {
		a.t.Fatalf("agent: %s: %v", name, err)
	}
	select {
	case f := <-ch:
		if f.Status != "resolved" {
			a.t.Fatalf("agent: %s rejected: %+v", name, f.Error)
		}
		return f.Data
	case <-time.After(waitTimeout):
		a.t.Fatalf("agent: %s: no answer", name)
	}
	return nil
}

// next waits for the agent event name whose data satisfies match (nil: any).
func (a *agent) next(name string, match func(json.RawMessage) bool) json.RawMessage {
	a.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case f, ok := <-a.events:
			if !ok {
				a.t.Fatalf("agent: socket closed waiting for %s", name)
			}
			if f.Event == name && (match == nil || match(f.Data)) {
				return f.Data
			}
		case <-timeout:
			a.t.Fatalf("agent: timed out waiting for %s", name)
		}
	}
}

// assigned waits for the next chat assigned to the agent and returns its id.
func (a *agent) assigned() string {
	a.t.Helper()
	var d struct {
		ChatID string `json:"chatId"`
	}
	_ = json.Unmarshal(a.next("AgentService.chatAssigned", nil), &d)
	if d.ChatID == "" {
		a.t.Fatal("agent: chatAssigned without chatId")
	}
	return d.ChatID
}

func (a *agent) say(chatID, text string) {
	a.t.Helper()
	a.cmd("AgentService.sendMessage", map[string]any{"chatId": chatID, "message": text})
}

// waitText waits until the agent receives a visitor message with text.
func (a *agent) waitText(chatID, text string) {
	a.t.Helper()
	a.next("AgentService.messageReceived", func(d json.RawMessage) bool {
		var m struct {
			ChatID   string `json:"chatId"`
			Messages []struct {
				Text string `json:"text"`
				From struct {
					Type string `json:"type"`
				} `json:"from"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(d, &m)
		for _, x := range m.Messages {
			if m.ChatID == chatID && x.Text == text && x.From.Type == "Client" {
				return true
			}
		}
		return false
	})
}

// ---- a TCP proxy whose network can be cut

// cutProxy forwards 127.0.0.1:PORT to the gateway. cut() drops every open
// connection and refuses new ones until restore(): a network outage as the
// browser sees it.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	URL    string
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, URL: "http://" + ln.Addr().String()}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); _ = up.Close(); _ = c.Close() }()
	_, _ = io.Copy(c, up)
	_ = up.Close()
	_ = c.Close()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// moveTo sends new connections to another target and drops the open
// ones: a load balancer taking a node out.
func (p *cutProxy) moveTo(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
	p.cut()
	p.restore()
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
