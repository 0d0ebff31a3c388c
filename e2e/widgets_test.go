package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// watchUncaught collects the tab's uncaught exceptions and unhandled promise
// rejections, which a page's own listeners do not see from a script of
// another origin. The returned function waits for the page to go idle and
// reports them.
func watchUncaught(t *testing.T, ctx context.Context) func() []string {
	var mu sync.Mutex
	var got []string
	_ = chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			mu.Lock()
			got = append(got, msg)
			mu.Unlock()
		}
	})
	return func() []string {
		// A round trip through the page's task queue lets pending rejections surface.
		eval[any](t, ctx, `new Promise(function (r) { setTimeout(r, 50); }).then(function () { return null; })`)
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestRestoreFailed: the chat kept from the previous page ended while the
// visitor was away (the agent closed it): the next page publishes
// restoreFailed, forgets the chat and can start another.
func TestRestoreFailed(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := p.add("/failed.html", testPage(gw.URL, "demo", "", "", ""))
	ctx := newBrowser(t)
	uncaught := watchUncaught(t, ctx)
	agent := dialAgent(t, gw)

	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	chatID := eval[string](t, ctx, startChatJS)
	if got := agent.assigned(); got != chatID {
		t.Fatalf("agent got chat %s, want %s", got, chatID)
	}
	// The visitor leaves the site; the agent ends the chat meanwhile.
	navigate(t, ctx, "about:blank")
	agent.cmd("AgentService.endChat", map[string]any{"chatId": chatID})
	agent.next("AgentService.chatEnded", nil)

	navigate(t, ctx, url+"?page=2")
	waitJS(t, ctx, `window.__count('restoreFailed') === 1`, "restoreFailed")
	if n := eval[int](t, ctx, `window.__count('restored') + window.__count('restoreTimeout') + window.__count('started')`); n != 0 {
		t.Errorf("restored, restoreTimeout or started published with restoreFailed (%d)", n)
	}
	kept := eval[int](t, ctx, `Object.keys(localStorage).filter(function (k) { return k.indexOf('_genesys.widgets.webchat.state.') === 0; }).length`)
	if kept != 0 {
		t.Errorf("the failed chat is still kept in localStorage")
	}
	v := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.verifySession'))`)
	if vv, _ := v["value"].(map[string]any); v["ok"] != true || vv["sessionActive"] != false {
		t.Errorf("verifySession after restoreFailed = %v", v)
	}
	// Without a chat, getTranscript still resolves (documented: always).
	tr := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.getTranscript'))`)
	if trv, _ := tr["value"].(map[string]any); tr["ok"] != true || trv == nil || fmt.Sprint(trv["messages"]) != "[]" {
		t.Errorf("getTranscript without a chat = %v, want resolved {messages: []}", tr)
	}
	// Session data that opens nothing: the documented rejection, handled by the page alone.
	if r := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.restore', {sessionData: 'not.a.token'}))`); r["ok"] != false || r["value"] != "No chat session found to restore." {
		t.Errorf("restore with bad session data = %v", r)
	}
	if u := uncaught(); len(u) > 0 {
		t.Errorf("uncaught errors in the page: %q", u)
	}
	// A new chat starts at once.
	newID := eval[string](t, ctx, startChatJS)
	if newID == chatID {
		t.Fatalf("startChat after restoreFailed resumed the ended chat")
	}
	if got := agent.assigned(); got != newID {
		t.Fatalf("agent got chat %s, want %s", got, newID)
	}
}

// TestPollExceptionLimit: after pollExceptionLimit failed attempts to reach
// the gateway the page publishes chatServerWentOffline (and an error), and
// chatServerBackOnline once it is back; nothing is lost.
func TestPollExceptionLimit(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	proxy := newCutProxy(t, gw.Addr)
	body := `<script>['chatServerWentOffline', 'chatServerBackOnline'].forEach(function (n) {
  window.__rec.subscribe('WebChatService.' + n, function (e) { window.__events.push({event: e.event, data: e.data}); });
});</script>`
	url := p.add("/limit.html", testPage(proxy.URL, "demo", "pollExceptionLimit: 2", "", body))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)

	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	chatID := eval[string](t, ctx, startChatJS)
	agent.assigned()
	agent.say(chatID, "m0")
	waitJS(t, ctx, `window.__countText('m0') === 1`, "m0")
	if n := eval[int](t, ctx, `window.__count('chatServerWentOffline')`); n != 0 {
		t.Fatalf("chatServerWentOffline while connected")
	}

	proxy.cut()
	waitJS(t, ctx, `window.__count('disconnected') === 1 && window.__count('chatServerWentOffline') === 1`, "chatServerWentOffline")
	order := eval[string](t, ctx, `window.__events.map(function (e) { return e.event.split('.')[1]; }).filter(function (n) { return n === 'disconnected' || n === 'chatServerWentOffline'; }).join()`)
	if order != "disconnected,chatServerWentOffline" {
		t.Errorf("events = %s, want disconnected before chatServerWentOffline", order)
	}
	if !eval[bool](t, ctx, `window.__events.some(function (e) { return e.event === 'WebChatService.error' && e.data.errors && e.data.errors[0].code === 'cxgate-offline'; })`) {
		t.Error("no error event with the offline code")
	}
	// resetPollExceptions: resolves always, and retries at once.
	if r := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.resetPollExceptions'))`); r["ok"] != true {
		t.Errorf("resetPollExceptions = %v", r)
	}
	agent.say(chatID, "m1")
	proxy.restore()
	waitJS(t, ctx, `window.__count('reconnected') === 1 && window.__count('chatServerBackOnline') === 1`, "chatServerBackOnline")
	waitJS(t, ctx, `window.__countText('m1') === 1`, "m1 after the outage")
	if n := eval[int](t, ctx, `window.__count('chatServerWentOffline')`); n != 1 {
		t.Errorf("chatServerWentOffline published %d times, want 1", n)
	}
	eval[int](t, ctx, sendJS("back"))
	agent.waitText(chatID, "back")
	// The page shows its own message when the gateway echoes it back, which
	// may come after the agent has it.
	waitJS(t, ctx, `window.__countText('back') === 1`, "the visitor's own message")
	if got := strings.Join(eval[[]string](t, ctx, `window.__texts()`), " "); got != "m0 m1 back" {
		t.Errorf("messages = %q, want each once, in order", got)
	}
}

// typingSpy records every sendTyping the page sends, over the socket or HTTP.
const typingSpy = `<script>
window.__typing = [];
window.__keys = [];
(function () {
  function note(body, via) {
    try {
      var f = JSON.parse(body);
      if (f && f.command === 'WebChatService.sendTyping') window.__typing.push({t: Date.now(), isTyping: f.options.isTyping, message: f.options.message, via: via});
    } catch (e) {}
  }
  var send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) { note(String(d), 'socket'); return send.apply(this, arguments); };
  var fetch0 = window.fetch;
  window.fetch = function (u, o) { if (o && typeof o.body === 'string') note(o.body, 'http'); return fetch0.apply(this, arguments); };
})();
</script>`

// TestTypingPreviewInput: keystrokes in a registered input send "typing" to
// the agent at most once a second, and "stopped" after a pause; sendFile
// takes the file of an input element.
func TestTypingPreviewInput(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	body := `<textarea id="box"></textarea><input id="file" type="file"><script>
document.getElementById('box').addEventListener('input', function () { window.__keys.push(Date.now()); });
window.__preview = window.__settle(window.__rec.command('WebChatService.registerTypingPreviewInput', {input: document.getElementById('box')}));
</script>`
	url := p.add("/typing.html", testPage(gw.URL, "demo", "", typingSpy, body))
	ctx := newBrowser(t)
	uncaught := watchUncaught(t, ctx)
	agent := dialAgent(t, gw)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	if r := eval[map[string]any](t, ctx, `window.__preview`); r["ok"] != true {
		t.Fatalf("registerTypingPreviewInput = %v", r)
	}
	eval[string](t, ctx, startChatJS)
	agent.assigned()

	// Three bursts of keys, well within the 2 s pause that means "stopped".
	for i := 0; i < 3; i++ {
		do(t, ctx, sendKeys("#box", "typing fast "))
		time.Sleep(600 * time.Millisecond)
	}
	agent.next("AgentService.visitorTyping", func(d json.RawMessage) bool { return strings.Contains(string(d), `"isTyping":true`) })
	waitJS(t, ctx, `window.__count('clientTypingStopped') === 1`, "clientTypingStopped after the pause")
	agent.next("AgentService.visitorTyping", func(d json.RawMessage) bool { return strings.Contains(string(d), `"isTyping":false`) })

	type sent struct {
		T        float64 `json:"t"`
		IsTyping bool    `json:"isTyping"`
		Message  string  `json:"message"`
		Via      string  `json:"via"`
	}
	st := eval[struct {
		Typing  []sent    `json:"typing"`
		Keys    []float64 `json:"keys"`
		Started int       `json:"started"`
	}](t, ctx, `({typing: window.__typing, keys: window.__keys, started: window.__count('clientTypingStarted')})`)
	if len(st.Keys) != 36 {
		t.Fatalf("%d input events, want 36", len(st.Keys))
	}
	if st.Started != 1 {
		t.Errorf("clientTypingStarted published %d times, want 1", st.Started)
	}
	var on []sent
	for _, s := range st.Typing {
		if s.IsTyping {
			on = append(on, s)
		}
	}
	span := st.Keys[len(st.Keys)-1] - st.Keys[0]
	if len(on) == 0 || len(on) > int(span/1000)+2 {
		t.Errorf("%d typing requests for %d keys over %.0f ms, want at most one a second: %+v", len(on), len(st.Keys), span, st.Typing)
	}
	for i := 1; i < len(on); i++ {
		if gap := on[i].T - on[i-1].T; gap < 900 {
			t.Errorf("typing requests %d ms apart, want at least a second", int(gap))
		}
	}
	if last := st.Typing[len(st.Typing)-1]; last.IsTyping {
		t.Errorf("the last typing request is %+v, want isTyping false", last)
	}
	if len(on) > 0 && !strings.HasPrefix(on[len(on)-1].Message, "typing fast") {
		t.Errorf("the typing preview carries %q, want the input's text", on[len(on)-1].Message)
	}

	// A keystroke that arrives when the trailing send is due but its timer has not run yet
	// (a busy page) sends once, not twice: the event loop is held for 1.1 s between keys.
	before := len(st.Typing)
	eval[any](t, ctx, `(function () {
  var box = document.getElementById('box');
  function key(v) { box.value = v; box.dispatchEvent(new Event('input')); }
  key('a'); key('ab'); // the first sends now, the second schedules the trailing send
  var end = Date.now() + 1100;
  while (Date.now() < end) {}
  key('abc');
  return null;
})()`)
	waitJS(t, ctx, `window.__count('clientTypingStopped') === 2`, "clientTypingStopped after the busy burst")
	busy := eval[[]sent](t, ctx, `window.__typing`)[before:]
	var busyOn []string
	for _, s := range busy {
		if s.IsTyping {
			busyOn = append(busyOn, s.Message)
		}
	}
	if strings.Join(busyOn, ",") != "a,abc" {
		t.Errorf("typing requests around a busy page = %q, want a,abc", busyOn)
	}

	// A file from the page's input is uploaded (files are on in the demo).
	r := eval[map[string]any](t, ctx, `(function () {
  var input = document.getElementById('file');
  var dt = new DataTransfer();
  dt.items.add(new File(['hello'], 'hello.txt', {type: 'text/plain'}));
  input.files = dt.files;
  return window.__settle(window.__rec.command('WebChatService.sendFile', {files: input}));
})()`)
	if v, _ := r["value"].(map[string]any); r["ok"] != true || v["name"] != "hello.txt" || v["type"] != "text/plain" {
		t.Errorf("sendFile = %v, want resolved with hello.txt of type text/plain", r)
	}
	// A command's rejection is the page's to handle: none escapes as an uncaught error.
	if u := uncaught(); len(u) > 0 {
		t.Errorf("uncaught errors in the page: %q", u)
	}
}

// TestCrossOriginRefused: a page on an origin the deployment does not list
// cannot reach the gateway (no CORS grant, the socket refused, startChat
// rejected); the listed origin can, and is granted exactly, never "*".
func TestCrossOriginRefused(t *testing.T) {
	allowed := newPages(t)
	refused := newPages(t) // another port: another origin
	gw := startGateway(t, allowed)
	agent := dialAgent(t, gw)

	for origin, want := range map[string]string{allowed.URL: allowed.URL, refused.URL: ""} {
		req, _ := http.NewRequest(http.MethodOptions, gw.URL+"/v1/command", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
		}
	}

	probe := `<script>
window.__probe = function () {
  var gw = ` + jsString(gw.URL) + `;
  return Promise.all([
    new Promise(function (resolve) {
      var ws = new WebSocket(gw.replace(/^http/, 'ws') + '/v1/ws');
      ws.onopen = function () { ws.close(); resolve('open'); };
      ws.onclose = function () { resolve('refused'); };
    }),
    fetch(gw + '/v1/command', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({deployment: 'demo', command: 'WebChatService.verifySession', options: {}})})
      .then(function (r) { return 'status ' + r.status; }, function () { return 'blocked'; })
  ]).then(function (a) { return a.join(); });
};
</script>`
	// The bus retries a failed network on a schedule of about 23 s before it
	// gives up; the refused page runs its timers 20 times faster so that the
	// test checks the outcome without sitting the schedule out.
	fastTimers := `<script>(function () {
  var setTimeoutReal = window.setTimeout;
  window.setTimeout = function (f, ms) {
    var rest = Array.prototype.slice.call(arguments, 2);
    return setTimeoutReal.apply(window, [f, (ms || 0) / 20].concat(rest));
  };
})();</script>`
	ctx := newBrowser(t)
	navigate(t, ctx, refused.add("/shop.html", testPage(gw.URL, "demo", "", fastTimers, probe)))
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready on the refused origin (the script itself is public)")
	if got := eval[string](t, ctx, `window.__probe()`); got != "refused,blocked" {
		t.Errorf("refused origin: socket and fetch = %s, want refused,blocked", got)
	}
	// The bus retries a failed network for a while before it gives up.
	eval[any](t, ctx, `window.__start = null, window.__settle(window.__rec.command('WebChatService.startChat', {nickname: 'Eve'})).then(function (r) { window.__start = r; }), null`)
	deadline := time.Now().Add(30 * time.Second)
	for eval[bool](t, ctx, `window.__start === null`) {
		if time.Now().After(deadline) {
			t.Fatal("startChat from a refused origin never settled")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := eval[map[string]any](t, ctx, `window.__start`); r["ok"] != false {
		t.Fatalf("startChat from a refused origin = %v, want rejected", r)
	}
	if n := eval[int](t, ctx, `window.__count('started')`); n != 0 {
		t.Fatalf("started published on a refused origin")
	}

	tab := newTab(t, ctx, "allowed")
	navigate(t, tab, allowed.add("/shop.html", testPage(gw.URL, "demo", "", "", probe)))
	waitJS(t, tab, `window.__count('ready') === 1`, "ready on the allowed origin")
	if got := eval[string](t, tab, `window.__probe()`); got != "open,status 200" {
		t.Errorf("allowed origin: socket and fetch = %s, want open,status 200", got)
	}
	chatID := eval[string](t, tab, startChatJS)
	// The first chat the agent is offered is the allowed page's: the refused one never existed.
	if got := agent.assigned(); got != chatID {
		t.Fatalf("agent got chat %s, want %s", got, chatID)
	}
}

// TestChatWindowPhone drives the default window on a 375x667 phone screen
// with the keyboard only: it fills the screen, nothing spills sideways, the
// controls stay on screen, and WebChat publishes its events.
func TestChatWindowPhone(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	body := `<script>window.__wc = [];
['opened', 'closed', 'minimized', 'unminimized', 'started', 'ended'].forEach(function (n) {
  window.__rec.subscribe('WebChat.' + n, function (e) { window.__wc.push(n); });
});
// Every visible part of the window inside the screen (screen-reader-only text aside).
window.__spill = function () {
  var w = window.innerWidth, h = window.innerHeight, out = [];
  document.querySelectorAll('.cxgw-root, .cxgw-root *').forEach(function (el) {
    if (el.closest('.cxgw-sr')) return;
    var r = el.getBoundingClientRect();
    if (!r.width && !r.height) return;
    if (el.closest('.cxgw-log') && el !== document.querySelector('.cxgw-log')) return; // scrolled content
    if (r.left < -0.5 || r.right > w + 0.5 || r.top < -0.5 || r.bottom > h + 0.5) out.push(el.tagName + '.' + el.className + ' ' + JSON.stringify([r.left, r.top, r.right, r.bottom]));
  });
  if (document.documentElement.scrollWidth > w) out.push('page scrolls sideways: ' + document.documentElement.scrollWidth);
  return out;
};
</script>`
	url := p.add("/phone.html", testPage(gw.URL, "demo", "", "", body))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)
	do(t, ctx, chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile))
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	eval[any](t, ctx, `window.__settle(window.__rec.command('WebChat.open'))`)
	waitJS(t, ctx, `document.activeElement && document.activeElement.name === 'nickname'`, "the form, focused")
	rect := eval[[]float64](t, ctx, `(function () { var r = document.querySelector('.cxgw-root').getBoundingClientRect(); return [r.left, r.top, r.width, r.height, window.innerWidth, window.innerHeight]; })()`)
	if rect[0] != 0 || rect[1] != 0 || rect[2] != rect[4] || rect[3] != rect[5] {
		t.Errorf("window at %v on a %vx%v screen, want it to fill the screen", rect[:4], rect[4], rect[5])
	}
	if spill := eval[[]string](t, ctx, `window.__spill()`); len(spill) > 0 {
		t.Errorf("off screen in the form:\n  %s", strings.Join(spill, "\n  "))
	}
	screenshot(t, ctx, "phone-form")

	// Keyboard only: name, Tab to email, Tab to the button, Enter.
	do(t, ctx, chromedp.KeyEvent("Pia"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
	if got := eval[string](t, ctx, `document.activeElement.textContent`); got != "Start chat" {
		t.Fatalf("two Tabs from the name land on %q, want the Start chat button", got)
	}
	do(t, ctx, chromedp.KeyEvent("\r"))
	chatID := agent.assigned()
	waitJS(t, ctx, `document.activeElement === document.querySelector('.cxgw-root textarea')`, "the chat view, focused")
	do(t, ctx, chromedp.KeyEvent("hello from a phone\r"))
	agent.waitText(chatID, "hello from a phone")
	agent.say(chatID, "a reply long enough to wrap on a narrow phone screen without spilling sideways at all: https://example.com/a/very/long/path/that/does/not/break/on/its/own")
	waitJS(t, ctx, `document.querySelector('.cxgw-root [aria-live=polite]').textContent.indexOf('a reply long enough') >= 0`, "the reply announced")
	if spill := eval[[]string](t, ctx, `window.__spill()`); len(spill) > 0 {
		t.Errorf("off screen in the chat:\n  %s", strings.Join(spill, "\n  "))
	}
	if eval[string](t, ctx, `document.querySelector('.cxgw-log').getAttribute('role')`) != "log" {
		t.Error("the transcript is not a log")
	}
	screenshot(t, ctx, "phone-chat")

	// Escape minimizes (focus on the restore button); Enter on it restores.
	do(t, ctx, chromedp.KeyEvent("\x1b"))
	waitJS(t, ctx, `document.querySelector('.cxgw-root').classList.contains('cxgw-minimized') && document.activeElement.getAttribute('aria-label') === 'Restore chat'`, "minimized, focus on restore")
	screenshot(t, ctx, "phone-minimized")
	do(t, ctx, chromedp.KeyEvent("\r"))
	waitJS(t, ctx, `!document.querySelector('.cxgw-root').classList.contains('cxgw-minimized') && document.activeElement === document.querySelector('.cxgw-root textarea')`, "restored, focus in the box")

	// End the chat with the keyboard: Tab from the box to End chat, Enter, Tab to confirm, Enter.
	eval[any](t, ctx, `document.querySelector('.cxgw-root textarea').focus(), null`)
	for i := 0; i < 6 && eval[string](t, ctx, `document.activeElement.textContent`) != "End chat"; i++ {
		do(t, ctx, chromedp.KeyEvent("\t"))
	}
	if got := eval[string](t, ctx, `document.activeElement.textContent`); got != "End chat" {
		t.Fatalf("Tab from the message box never reaches End chat (stuck on %q)", got)
	}
	do(t, ctx, chromedp.KeyEvent("\r"))
	waitJS(t, ctx, `document.activeElement.textContent === 'Keep chatting'`, "the confirmation, focused")
	do(t, ctx, chromedp.KeyEvent("\t"))
	if got := eval[string](t, ctx, `document.activeElement.textContent`); got != "End chat" {
		t.Fatalf("Tab from Keep chatting lands on %q", got)
	}
	do(t, ctx, chromedp.KeyEvent("\r"))
	agent.next("AgentService.chatEnded", nil)
	waitJS(t, ctx, `window.__count('ended') === 1 && document.activeElement.textContent === 'Start a new chat'`, "the ended view, focused")
	eval[any](t, ctx, `window.__settle(window.__rec.command('WebChat.close'))`)
	waitJS(t, ctx, `document.querySelector('.cxgw-root').hidden`, "closed")
	if got := eval[string](t, ctx, `window.__wc.join()`); got != "opened,started,minimized,unminimized,ended,closed" {
		t.Errorf("WebChat events = %s", got)
	}
}

// TestFilteredMessageOnAnotherDevice: a message sent with
// sendFilteredMessage stays hidden on a browser that never saw the regex
// (an asynchronous conversation restored elsewhere): the regex travels with
// the message.
func TestFilteredMessageOnAnotherDevice(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	agent := dialAgent(t, gw)
	url := p.add("/filtered.html", testPage(gw.URL, "demo-async", "transport: {type: 'cxgate', deploymentKey: 'demo-async'}", "", ""))

	phone := newBrowser(t)
	navigate(t, phone, url)
	waitJS(t, phone, `window.__count('ready') === 1`, "ready on the first device")
	chatID := eval[string](t, phone, startChatJS)
	agent.assigned()
	if r := eval[map[string]any](t, phone, `window.__settle(window.__rec.command('WebChatService.sendFilteredMessage', {message: 'token:abc123', regex: /^token:/}))`); r["ok"] != true {
		t.Fatalf("sendFilteredMessage = %v", r)
	}
	agent.waitText(chatID, "token:abc123")
	eval[int](t, phone, sendJS("visible"))
	agent.waitText(chatID, "visible")
	waitJS(t, phone, `window.__countText('visible') === 1`, "the visible message")
	sessionData := eval[string](t, phone, `window.__settle(window.__rec.command('WebChatService.getSessionData')).then(function (r) { return r.value.sessionData || ''; })`)
	navigate(t, phone, "about:blank")

	laptop := newBrowser(t)
	navigate(t, laptop, url)
	waitJS(t, laptop, `window.__count('ready') === 1`, "ready on the second device")
	if r := eval[map[string]any](t, laptop, `window.__settle(window.__rec.command('WebChatService.restore', {sessionData: `+jsString(sessionData)+`}))`); r["ok"] != true {
		t.Fatalf("restore with session data: %v", r)
	}
	waitJS(t, laptop, `window.__countText('visible') === 1`, "the history on the second device")
	if got := strings.Join(eval[[]string](t, laptop, `window.__texts()`), "|"); got != "visible" {
		t.Errorf("second device shows %q, want only the unfiltered message", got)
	}
	tr := eval[[]string](t, laptop, `window.__settle(window.__rec.command('WebChatService.getTranscript')).then(function (r) { return r.value.messages.filter(function (m) { return m.type === 'Message'; }).map(function (m) { return m.text; }); })`)
	if strings.Join(tr, "|") != "visible" {
		t.Errorf("getTranscript on the second device = %q, want only the unfiltered message", tr)
	}
}
