package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/web"
)

// startChatJS starts a chat the Genesys way and resolves with its chatId.
const startChatJS = `window.__settle(window.__rec.command('WebChatService.startChat', {nickname: 'Vera', email: 'vera@example.com'}))
  .then(function (r) { if (!r.ok) throw new Error('startChat: ' + JSON.stringify(r.value)); return r.value.chatId; })`

func sendJS(text string) string {
	return `window.__settle(window.__rec.command('WebChatService.sendMessage', {message: ` + jsString(text) + `}))
  .then(function (r) { if (!r.ok) throw new Error('sendMessage: ' + JSON.stringify(r.value)); return r.value.seq; })`
}

// TestRestoreAfterNavigation: the next page of the site continues the chat,
// with the transcript replayed once as "restoring".
func TestRestoreAfterNavigation(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := p.add("/restore.html", testPage(gw.URL, "demo", "", "", ""))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)

	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	chatID := eval[string](t, ctx, startChatJS)
	if got := agent.assigned(); got != chatID {
		t.Fatalf("agent got chat %s, want %s", got, chatID)
	}
	eval[int](t, ctx, sendJS("before navigation"))
	agent.waitText(chatID, "before navigation")
	agent.say(chatID, "agent before navigation")
	waitJS(t, ctx, `window.__countText('agent before navigation') === 1`, "the agent's message")

	navigate(t, ctx, url+"?page=2")
	waitJS(t, ctx, `window.__count('restored') === 1`, "restored on the next page")
	waitJS(t, ctx, `window.__countText('agent before navigation') === 1 && window.__countText('before navigation') === 1`, "the replayed transcript")
	restoring := eval[bool](t, ctx, `window.__events.filter(function (e) { return e.event === 'WebChatService.messageReceived'; }).every(function (e) { return e.data.restoring === true; })`)
	if !restoring {
		t.Error("replayed messages are not marked restoring")
	}
	if n := eval[int](t, ctx, `window.__count('started')`); n != 0 {
		t.Errorf("started published %d times on restore, want 0", n)
	}
	eval[int](t, ctx, sendJS("after navigation"))
	agent.waitText(chatID, "after navigation")
	agent.say(chatID, "agent after navigation")
	waitJS(t, ctx, `window.__countText('agent after navigation') === 1`, "a live message after the restore")
	live := eval[bool](t, ctx, `window.__events.filter(function (e) { return e.event === 'WebChatService.messageReceived' && e.data.messages[0].text === 'agent after navigation'; })[0].data.restoring === false`)
	if !live {
		t.Error("a live message after the restore is marked restoring")
	}
	sd := eval[string](t, ctx, `window.__settle(window.__rec.command('WebChatService.getSessionData')).then(function (r) { return r.value.chatId; })`)
	if sd != chatID {
		t.Errorf("restored session chatId %s, want %s", sd, chatID)
	}
	texts := eval[[]string](t, ctx, `window.__texts()`)
	if strings.Join(texts, "|") != "before navigation|agent before navigation|after navigation|agent after navigation" {
		t.Errorf("transcript after restore = %q", texts)
	}
}

// TestRestoreTimeout: a live chat left alone longer than restoreTimeout is
// not restored.
func TestRestoreTimeout(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	first := p.add("/first.html", testPage(gw.URL, "demo", "", "", ""))
	// restoreTimeout: 1 ms, so any navigation is too late.
	second := p.add("/second.html", testPage(gw.URL, "demo", "restoreTimeout: 1", "", ""))
	ctx := newBrowser(t)
	navigate(t, ctx, first)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	eval[string](t, ctx, startChatJS)
	waitJS(t, ctx, `window.__count('started') === 1`, "started")
	navigate(t, ctx, second)
	waitJS(t, ctx, `window.__count('restoreTimeout') === 1`, "restoreTimeout")
	if n := eval[int](t, ctx, `window.__count('restored')`); n != 0 {
		t.Errorf("restored published after a timeout")
	}
	// A new chat can start at once.
	eval[string](t, ctx, startChatJS)
}

// TestResumeAfterNetworkDrop cuts the network between the browser and the
// gateway while the agent keeps talking: the page publishes disconnected,
// then reconnected, and shows every message exactly once.
func TestResumeAfterNetworkDrop(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	proxy := newCutProxy(t, gw.Addr)
	// cxbus.js comes through the proxy, so the chat does too (dataURL defaults to the script's origin).
	url := p.add("/drop.html", testPage(proxy.URL, "demo", "", "", ""))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)

	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	chatID := eval[string](t, ctx, startChatJS)
	agent.assigned()
	agent.say(chatID, "m0")
	waitJS(t, ctx, `window.__countText('m0') === 1`, "m0")

	proxy.cut()
	waitJS(t, ctx, `window.__count('disconnected') === 1`, "disconnected")
	for i := 1; i <= 5; i++ {
		agent.say(chatID, fmt.Sprintf("m%d", i))
	}
	proxy.restore()
	waitJS(t, ctx, `window.__count('reconnected') === 1`, "reconnected")
	waitJS(t, ctx, `window.__countText('m5') === 1`, "the messages sent during the outage")
	eval[int](t, ctx, sendJS("visitor back"))
	agent.waitText(chatID, "visitor back")
	agent.say(chatID, "m6")
	waitJS(t, ctx, `window.__countText('m6') === 1`, "m6")
	texts := eval[[]string](t, ctx, `window.__texts()`)
	if got := strings.Join(texts, " "); got != "m0 m1 m2 m3 m4 m5 visitor back m6" {
		t.Errorf("messages = %q, want each once, in order", got)
	}

	// A second outage, this time while the visitor sends: the message is retried and not doubled.
	proxy.cut()
	waitJS(t, ctx, `window.__count('disconnected') === 2`, "second disconnected")
	eval[any](t, ctx, `window.__pending = window.__settle(window.__rec.command('WebChatService.sendMessage', {message: 'sent while offline'})), null`)
	agent.say(chatID, "m7")
	proxy.restore()
	waitJS(t, ctx, `window.__countText('sent while offline') === 1 && window.__countText('m7') === 1`, "messages after the second outage")
	if ok := eval[bool](t, ctx, `window.__pending.then(function (r) { return r.ok; })`); !ok {
		t.Error("the message sent while offline was rejected")
	}
	agent.waitText(chatID, "sent while offline")
	if n := eval[int](t, ctx, `window.__countText('sent while offline')`); n != 1 {
		t.Errorf("the message sent while offline shows %d times", n)
	}
}

// TestLongPollFallback: with no usable WebSocket the chat runs over
// long-polling.
func TestLongPollFallback(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	// A browser (or proxy) where WebSockets do not work.
	head := `<script>window.WebSocket = function () { throw new Error('blocked'); };</script>`
	url := p.add("/poll.html", testPage(gw.URL, "demo", "", head, ""))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	chatID := eval[string](t, ctx, startChatJS)
	agent.assigned()
	eval[int](t, ctx, sendJS("over http"))
	agent.waitText(chatID, "over http")
	agent.say(chatID, "over long-poll")
	waitJS(t, ctx, `window.__countText('over long-poll') === 1 && window.__countText('over http') === 1`, "messages over long-poll")
	waitJS(t, ctx, `window.__count('agentConnected') === 1`, "agentConnected")
	ac := eval[map[string]any](t, ctx, `window.__events.filter(function (e) { return e.event === 'WebChatService.agentConnected'; })[0].data`)
	if ac["numAgentsConnected"] != float64(1) {
		t.Errorf("agentConnected data = %v", ac)
	}
	if n := eval[int](t, ctx, `window.__count('disconnected')`); n != 0 {
		t.Errorf("disconnected published %d times while falling back to long-poll", n)
	}
}

// TestTwoTabsShareChat: two tabs of one site show one chat; each sees every
// message, including the other tab's.
func TestTwoTabsShareChat(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := p.add("/tabs.html", testPage(gw.URL, "demo", "", "", ""))
	tab1 := newBrowser(t)
	agent := dialAgent(t, gw)
	navigate(t, tab1, url)
	waitJS(t, tab1, `window.__count('ready') === 1`, "tab 1 ready")
	tab2 := newTab(t, tab1, "tab2")
	navigate(t, tab2, url)
	waitJS(t, tab2, `window.__count('ready') === 1`, "tab 2 ready")

	chatID := eval[string](t, tab1, startChatJS)
	agent.assigned()
	// Tab 2 picks the chat up from the shared storage.
	waitJS(t, tab2, `window.__count('restored') === 1`, "tab 2 restored the chat")
	eval[int](t, tab1, sendJS("from tab 1"))
	eval[int](t, tab2, sendJS("from tab 2"))
	agent.waitText(chatID, "from tab 1")
	agent.say(chatID, "to both")
	for i, tab := range []context.Context{tab1, tab2} {
		waitJS(t, tab, `window.__countText('from tab 1') === 1 && window.__countText('from tab 2') === 1 && window.__countText('to both') === 1`, fmt.Sprintf("every message in tab %d", i+1))
	}
	// Ending in one tab ends it in both.
	eval[any](t, tab2, `window.__settle(window.__rec.command('WebChatService.endChat'))`)
	waitJS(t, tab1, `window.__count('ended') === 1`, "tab 1 ended")
	waitJS(t, tab2, `window.__count('ended') === 1`, "tab 2 ended")
}

// TestChatWindowWithAgent drives the default chat window (WebChat) with the
// keyboard against a real agent, including a hostile message.
func TestChatWindowWithAgent(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := p.add("/window.html", testPage(gw.URL, "demo", "", "", `<button id="chat" onclick="window.__rec.command('WebChat.open')">Chat</button>`))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")

	do(t, ctx, chromedp.Click(chromedp.ID("chat")))
	waitJS(t, ctx, `document.querySelector('.cxgw-root input[name=nickname]') === document.activeElement`, "the form, focused")
	screenshot(t, ctx, "chat-window-form")
	// 360 px wide phones: the window fits.
	do(t, ctx, chromedp.EmulateViewport(360, 640))
	if w := eval[float64](t, ctx, `document.querySelector('.cxgw-root').getBoundingClientRect().width`); w > 360 {
		t.Errorf("window is %v px wide on a 360 px screen", w)
	}
	do(t, ctx, sendKeys(".cxgw-root input[name=nickname]", "Vera\r"))
	chatID := agent.assigned()
	waitJS(t, ctx, `document.querySelector('.cxgw-root textarea') === document.activeElement`, "the chat view, focused")

	do(t, ctx, sendKeys(".cxgw-root textarea", "hello agent\r"))
	// Keystrokes in the box tell the agent the visitor types (registerTypingPreviewInput).
	agent.next("AgentService.visitorTyping", func(d json.RawMessage) bool { return strings.Contains(string(d), `"isTyping":true`) })
	agent.waitText(chatID, "hello agent")
	waitJS(t, ctx, `[].some.call(document.querySelectorAll('.cxgw-log .cxgw-mine'), function (li) { return li.textContent.indexOf('hello agent') >= 0 && li.className.indexOf('pending') < 0; })`, "the visitor's message in the log")

	agent.cmd("AgentService.sendTyping", map[string]any{"chatId": chatID, "isTyping": true})
	waitJS(t, ctx, `document.querySelector('.cxgw-typing').textContent.indexOf('Ann is typing') === 0`, "the typing indicator")
	agent.say(chatID, "hi Vera, how can I help?")
	waitJS(t, ctx, `document.querySelector('.cxgw-log').textContent.indexOf('hi Vera, how can I help?') >= 0`, "the agent's reply")
	waitJS(t, ctx, `document.querySelector('.cxgw-typing').textContent === ''`, "typing cleared by the message")
	waitJS(t, ctx, `document.querySelector('.cxgw-root [aria-live=polite]').textContent === 'Ann: hi Vera, how can I help?'`, "the live region announcement")
	waitJS(t, ctx, `document.querySelector('.cxgw-log').textContent.indexOf('Ann joined the chat') >= 0`, "the agent joined notice")

	hostile := `<img src=x onerror=window.__xss=1>`
	agent.say(chatID, hostile)
	waitJS(t, ctx, `[].some.call(document.querySelectorAll('.cxgw-log .cxgw-text'), function (s) { return s.textContent === `+jsString(hostile)+`; })`, "the hostile message shown as text")
	if eval[bool](t, ctx, `window.__xss !== undefined || !!document.querySelector('.cxgw-log img')`) {
		t.Fatal("an agent message was rendered as HTML")
	}
	screenshot(t, ctx, "chat-window-360")

	// Minimize and restore with the keyboard.
	do(t, ctx, chromedp.KeyEvent("\x1b"))
	waitJS(t, ctx, `document.querySelector('.cxgw-root').classList.contains('cxgw-minimized')`, "minimized by Escape")
	agent.say(chatID, "are you there?")
	waitJS(t, ctx, `document.querySelector('.cxgw-unread').textContent === '1'`, "the unread count")
	eval[any](t, ctx, `window.__settle(window.__rec.command('WebChat.open'))`)
	waitJS(t, ctx, `!document.querySelector('.cxgw-root').classList.contains('cxgw-minimized')`, "unminimized")

	// End the chat from the window: End chat, then confirm.
	do(t, ctx, chromedp.Click(chromedp.CSS(".cxgw-footer .cxgw-btn2")))
	waitJS(t, ctx, `[].some.call(document.querySelectorAll('.cxgw-root [role=group] button'), function (b) { return b === document.activeElement; })`, "the confirmation")
	eval[any](t, ctx, `[].filter.call(document.querySelectorAll('.cxgw-root [role=group] button'), function (b) { return b.textContent === 'End chat'; })[0].click(), null`)
	agent.next("AgentService.chatEnded", nil)
	waitJS(t, ctx, `window.__count('ended') === 1 && document.querySelector('.cxgw-log').textContent.indexOf('Chat ended') >= 0`, "the ended view")
	screenshot(t, ctx, "chat-window-ended")
}

// TestCrossOriginDemo copies the cross-origin demo page to another origin,
// naming the gateway in its data-gateway attribute as an operator would,
// loads the bus from the gateway, and chats through it.
func TestCrossOriginDemo(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)
	demo, err := fs.ReadFile(web.Files(), "demo/crossorigin.html")
	if err != nil {
		t.Fatal(err)
	}
	copied := strings.Replace(string(demo), `data-gateway=""`, `data-gateway="`+gw.URL+`"`, 1)
	if copied == string(demo) {
		t.Fatal(`the demo page has no data-gateway="" to fill in`)
	}
	navigate(t, ctx, p.add("/demo/crossorigin.html", copied))
	if got := eval[string](t, ctx, `document.querySelector('script[src$="widgets/cxbus.js"]').src`); got != gw.URL+"/widgets/cxbus.js" {
		t.Errorf("the copied page loads the bus from %s, want the gateway's", got)
	}
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Ready.'`, "the demo ready")
	do(t, ctx,
		sendKeys("#nickname", "Remote"),
		chromedp.Click(chromedp.CSS("#start-form button")),
	)
	chatID := agent.assigned()
	waitJS(t, ctx, `!document.getElementById('chat').hidden`, "the chat view")
	do(t, ctx, sendKeys("#message", "from another origin\r"))
	agent.waitText(chatID, "from another origin")
	agent.say(chatID, "<b>bold?</b>")
	waitJS(t, ctx, `document.getElementById('transcript').textContent.indexOf('<b>bold?</b>') >= 0`, "the reply, as text")
	if eval[bool](t, ctx, `!!document.querySelector('#transcript b b, #transcript li > b + b')`) {
		t.Error("the demo rendered HTML from the agent")
	}
}

// TestResumeAfterBrowserOffline takes the browser itself offline (DevTools
// network emulation: navigator.onLine, the offline event, requests failing)
// while the agent talks, then back online.
func TestResumeAfterBrowserOffline(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := p.add("/offline.html", testPage(gw.URL, "demo", "", "", ""))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	chatID := eval[string](t, ctx, startChatJS)
	agent.assigned()
	agent.say(chatID, "a0")
	waitJS(t, ctx, `window.__countText('a0') === 1`, "a0")

	setOffline(t, ctx, true)
	waitJS(t, ctx, `window.__count('disconnected') === 1`, "disconnected")
	agent.say(chatID, "a1")
	agent.say(chatID, "a2")
	setOffline(t, ctx, false)
	waitJS(t, ctx, `window.__count('reconnected') === 1`, "reconnected")
	waitJS(t, ctx, `window.__countText('a2') === 1`, "the messages sent while offline")
	if got := strings.Join(eval[[]string](t, ctx, `window.__texts()`), " "); got != "a0 a1 a2" {
		t.Errorf("messages = %q, want each once, in order", got)
	}
}

func setOffline(t *testing.T, ctx context.Context, offline bool) {
	t.Helper()
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		cond := []*network.Conditions{}
		if offline {
			cond = append(cond, &network.Conditions{Offline: true, DownloadThroughput: -1, UploadThroughput: -1})
		}
		if _, err := cdp.Call(ctx, tg, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: cond}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	}))
}

// TestDemoPages runs the demo pages served by the gateway itself.
func TestDemoPages(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{}) // the demo setup: any origin
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)
	navigate(t, ctx, gw.URL+"/demo/")
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Ready.'`, "the live demo ready")
	do(t, ctx, sendKeys("#nickname", "Demo visitor\r"))
	chatID := agent.assigned()
	do(t, ctx, sendKeys("#message", "hello from the demo\r"))
	agent.waitText(chatID, "hello from the demo")
	agent.say(chatID, "welcome")
	waitJS(t, ctx, `document.getElementById('transcript').textContent.indexOf('Ann: welcome') >= 0`, "the agent's reply")
	// The demo's button opens the default window on the same chat.
	do(t, ctx, chromedp.Click(chromedp.ID("open-window")))
	waitJS(t, ctx, `document.querySelector('.cxgw-log') && document.querySelector('.cxgw-log').textContent.indexOf('welcome') >= 0`, "the chat window with the transcript")
	// The next page restores the chat, and the window that was open opens again.
	navigate(t, ctx, gw.URL+"/demo/?page=2")
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Chat restored.' || document.getElementById('transcript').textContent.indexOf('welcome') >= 0`, "the restored demo")
	waitJS(t, ctx, `document.querySelector('.cxgw-root') && !document.querySelector('.cxgw-root').hidden && document.querySelector('.cxgw-log').textContent.indexOf('hello from the demo') >= 0`, "the window open again")

	// The async demo: the conversation survives any pause (no restoreTimeout).
	navigate(t, ctx, gw.URL+"/demo/async/")
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Ready.'`, "the async demo ready")
	do(t, ctx, sendKeys("#nickname", "Async visitor\r"))
	asyncID := agent.assigned()
	do(t, ctx, sendKeys("#message", "async hello\r"))
	agent.waitText(asyncID, "async hello")
	navigate(t, ctx, gw.URL+"/demo/async/?later=1")
	waitJS(t, ctx, `document.getElementById('transcript').textContent.indexOf('async hello') >= 0`, "the async conversation restored")
}
