package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/server/servertest"
)

// wireLog records what a tab's page sent and received: WebSocket frames and
// HTTP requests to the command endpoint.
type wireLog struct {
	mu       sync.Mutex
	received []string
	sent     []string
	posts    int
}

func listenWire(t *testing.T, ctx context.Context) *wireLog {
	l := &wireLog{}
	_ = chromedp.Listen(ctx, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventWebSocketFrameReceived:
			l.received = append(l.received, string(ev.Response.PayloadData))
		case *network.EventWebSocketFrameSent:
			l.sent = append(l.sent, string(ev.Response.PayloadData))
		case *network.EventRequestWillBeSent:
			if strings.Contains(ev.Request.URL, "/v1/command") {
				l.posts++
			}
		}
	})
	return l
}

// mark forgets what was seen so far.
func (l *wireLog) mark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.received, l.sent, l.posts = nil, nil, 0
}

func (l *wireLog) snapshot() (received, sent []string, posts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.received...), append([]string(nil), l.sent...), l.posts
}

// TestConsoleLiveQueue: Ann signs in (offline: the console offers to go
// online) and chats queue for her. Each reaches the console as it queues,
// pushed on her socket (the frame is there, and the console asked nothing
// since), and calls for attention in the page title; the list tells each
// chat's age, wire and mode, and two visitors called Pia apart. Going online
// moves them to My chats, none left under Queued; a message in a chat not in
// view counts in the title; "offline" asks before it hands her chats back,
// and the sound can be muted.
func TestConsoleLiveQueue(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: consoleConfig()})
	ctx := newBrowser(t)
	wire := listenWire(t, ctx)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
	navigate(t, ctx, gw.URL+"/agent/")
	do(t, ctx, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, ctx, "#who", "Ann (ann)")
	waitDOM(t, ctx, "#conn", "connected")
	waitJS(t, ctx, `!document.getElementById('golive').hidden`, "the offer to go online")
	if got := eval[string](t, ctx, `document.title`); got != "cxgate agent console" {
		t.Errorf("title with nothing waiting = %q", got)
	}

	// Notifications allowed, the page in the background: a stand-in for
	// Notification records what the console shows.
	eval[bool](t, ctx, `(function () {
		window.__notes = [];
		var Fake = function (title, o) { window.__notes.push(title + ' | ' + ((o && o.body) || '')); this.close = function () {}; };
		Fake.permission = 'granted';
		Fake.requestPermission = function () { return Promise.resolve('granted'); };
		window.Notification = Fake;
		document.hasFocus = function () { return false; };
		return true;
	})()`)

	// A chat queues: it is pushed, not fetched.
	wire.mark()
	pia := startVisitor(t, gw, "demo", map[string]any{"nickname": "Pia", "email": "pia@example.com", "subject": "Refund"})
	item := `#queued li[data-chat="` + pia.chatID + `"]`
	waitDOM(t, ctx, item, "Pia")
	received, sent, posts := wire.snapshot()
	pushed := false
	for _, f := range received {
		if strings.Contains(f, `"AgentService.chatQueued"`) && strings.Contains(f, pia.chatID) {
			pushed = true
		}
	}
	if !pushed {
		t.Errorf("no chatQueued frame about %s among %d frames received", pia.chatID, len(received))
	}
	if len(sent) != 0 || posts != 0 {
		t.Errorf("the console asked the gateway something while the chat queued: frames %q, %d HTTP commands", sent, posts)
	}
	waitJS(t, ctx, `document.title === '(1) cxgate agent console'`, "the title counting the waiting chat")
	waitJS(t, ctx, `window.__notes.some(function (n) { return n.indexOf('Waiting: Pia | support · web · live') === 0; })`, "a desktop notification of the waiting chat")
	waitDOM(t, ctx, item+" .meta .age", "now")
	waitDOM(t, ctx, item+" .meta .wire", "web")
	waitDOM(t, ctx, item+" .meta .mode", "live")
	waitDOM(t, ctx, item+" .meta .who", "pia@example.com")

	// Another Pia, over GMS and without an email: told apart by her id.
	res, err := http.Post(gw.URL+"/genesys/2/chat/demo", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"nickname": {"Pia"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	waitJS(t, ctx, `document.querySelectorAll('#queued li').length === 2`, "the second Pia queued")
	gmsItem := `#queued li:not([data-chat="` + pia.chatID + `"])`
	waitDOM(t, ctx, gmsItem+" .meta .wire", "GMS")
	waitJS(t, ctx, `/^#\w{6}$/.test(`+domText(gmsItem+" .meta .who")+`)`, "the GMS Pia's short id")
	// And an asynchronous conversation.
	startVisitor(t, gw, "demo-async", map[string]any{"nickname": "Quinn"})
	waitJS(t, ctx, `document.querySelectorAll('#queued li').length === 3`, "the async chat queued")
	waitJS(t, ctx, `[].some.call(document.querySelectorAll('#queued .meta .mode'), function (m) { return m.textContent === 'async'; })`, "an async chat in the queue")
	waitJS(t, ctx, `document.title === '(3) cxgate agent console'`, "the title counting three waiting chats")
	screenshot(t, ctx, "console-live-queued-1280")
	do(t, ctx, chromedp.EmulateViewport(375, 667))
	screenshot(t, ctx, "console-live-queued-375")
	do(t, ctx, chromedp.EmulateViewport(1280, 800))

	// Online: routing gives Ann the three chats; each leaves Queued.
	do(t, ctx, chromedp.Click(chromedp.ID("goliveBtn")))
	waitJS(t, ctx, `document.querySelectorAll('#chats li').length === 3`, "three chats in My chats")
	waitJS(t, ctx, `document.querySelectorAll('#queued li').length === 0`, "nothing left under Queued")
	waitJS(t, ctx, `document.getElementById('golive').hidden`, "the offer to go online gone")
	waitDOM(t, ctx, chatItem(pia.chatID)+" .meta .who", "pia@example.com")
	waitJS(t, ctx, `document.title === 'cxgate agent console'`, "the title with nothing waiting or unread")

	// A message in a chat not in view counts in the title.
	pia.say("Are you there?")
	waitDOM(t, ctx, chatItem(pia.chatID)+" .unread", "1")
	waitJS(t, ctx, `document.title === '(1) cxgate agent console'`, "the title counting the unread message")
	waitJS(t, ctx, `window.__notes.some(function (n) { return n === 'Pia | Are you there?'; })`, "a desktop notification of the message")
	screenshot(t, ctx, "console-live-mine-1280")
	do(t, ctx, chromedp.EmulateViewport(375, 667))
	screenshot(t, ctx, "console-live-mine-375")
	do(t, ctx, chromedp.EmulateViewport(1280, 800))

	// "offline" asks first; staying keeps the chats.
	eval[bool](t, ctx, `(function () { var s = document.getElementById('status'); s.value = 'offline'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitJS(t, ctx, `document.getElementById('offlineDlg').open`, "the offline question")
	waitDOM(t, ctx, "#offlineText", "3 open chats")
	screenshot(t, ctx, "console-live-offline-ask-1280")
	do(t, ctx, chromedp.Click(chromedp.CSS("#offlineDlg .cancel")))
	waitJS(t, ctx, `!document.getElementById('offlineDlg').open`, "the question closed")
	if v := eval[string](t, ctx, `document.getElementById('status').value`); v != "online" {
		t.Errorf("status after staying = %q, want online", v)
	}
	bob := dialAgentAs(t, gw, "bob-secret-token", "online")
	if s := agentStatus(bob, "ann"); s != "online" {
		t.Errorf("Ann is %q on the gateway after staying online", s)
	}

	// The sound is on by default and its mute is remembered.
	waitDOM(t, ctx, "#sound", "Sound on")
	do(t, ctx, chromedp.Click(chromedp.ID("sound")))
	waitDOM(t, ctx, "#sound", "Sound off")
	if v := eval[string](t, ctx, `localStorage.getItem('cxgate.agent.sound') || ''`); v != "off" {
		t.Errorf("sound setting stored %q, want off", v)
	}

	// Going offline for real hands the chats back: each shows once, under
	// Queued, none left under My chats.
	eval[bool](t, ctx, `(function () { var s = document.getElementById('status'); s.value = 'offline'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitJS(t, ctx, `document.getElementById('offlineDlg').open`, "the offline question")
	do(t, ctx, chromedp.Click(chromedp.ID("offlineGo")))
	waitFor(t, "ann offline", func() bool { return agentStatus(bob, "ann") == "offline" })
	waitJS(t, ctx, `document.querySelectorAll('#queued li').length === 3`, "the three chats back under Queued")
	waitJS(t, ctx, `document.querySelectorAll('#chats li').length === 0`, "no chat left under My chats")
	waitJS(t, ctx, `!document.getElementById('golive').hidden`, "the offer to go online again")
}

// TestConsoleEndedChatsLeave: a chat that ended stays in My chats, marked,
// for a while, then leaves the list by itself; the one in view stays.
func TestConsoleEndedChatsLeave(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: consoleConfig()})
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
	navigate(t, ctx, gw.URL+"/agent/")
	do(t, ctx, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, ctx, "#conn", "connected")
	do(t, ctx, chromedp.Click(chromedp.ID("goliveBtn")))
	waitJS(t, ctx, `document.getElementById('golive').hidden`, "online")
	vera := startVisitor(t, gw, "demo", map[string]any{"nickname": "Vera"})
	walt := startVisitor(t, gw, "demo", map[string]any{"nickname": "Walt"})
	waitDOM(t, ctx, chatItem(vera.chatID), "Vera")
	waitDOM(t, ctx, chatItem(walt.chatID), "Walt")
	do(t, ctx, chromedp.Click(chromedp.CSS(chatItem(walt.chatID)+" button")))
	waitDOM(t, ctx, "#title", "Walt")
	vera.cmd("WebChatService.endChat", nil)
	walt.cmd("WebChatService.endChat", nil)
	waitJS(t, ctx, `document.querySelector('`+chatItem(vera.chatID)+`.closed')`, "Vera's chat marked ended")
	waitJS(t, ctx, `document.querySelector('`+chatItem(walt.chatID)+`.closed')`, "Walt's chat marked ended")

	// Three minutes on (the page's clock moved rather than waited for), the
	// next change of the list lets Vera's chat go; Walt's is in view.
	eval[bool](t, ctx, `(function () { var now = Date.now; Date.now = function () { return now() + 3 * 60 * 1000; }; return true; })()`)
	startVisitor(t, gw, "demo", map[string]any{"nickname": "Xena"})
	waitJS(t, ctx, `document.querySelectorAll('#chats li').length === 2`, "Xena in, Vera out")
	waitJS(t, ctx, `!document.querySelector('`+chatItem(vera.chatID)+`')`, "Vera's ended chat gone")
	waitDOM(t, ctx, chatItem(walt.chatID), "Walt")
}

// TestConsolePastChats: Ann's ended chats are listed under Past chats; a
// search by message text finds the one that said it, shows the matching
// text, and opens its transcript read-only, outside My chats.
func TestConsolePastChats(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: consoleConfig()})
	ann := dialAgentAs(t, gw, "ann-secret", "online")
	for _, v := range []struct{ name, text string }{{"Pia", "my parcel is lost"}, {"Quinn", "hello there"}} {
		vis := startVisitor(t, gw, "demo", map[string]any{"nickname": v.name})
		id := ann.assigned()
		vis.say(v.text)
		ann.waitText(id, v.text)
		ann.cmd("AgentService.endChat", map[string]any{"chatId": id})
	}

	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
	navigate(t, ctx, gw.URL+"/agent/")
	do(t, ctx, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, ctx, "#conn", "connected")
	waitJS(t, ctx, `document.querySelectorAll('#past li').length === 2`, "two past chats")
	waitDOM(t, ctx, "#past li:first-child .name", "Quinn")

	do(t, ctx, sendKeys("#pastQuery", "PARCEL\r"))
	waitJS(t, ctx, `document.querySelectorAll('#past li').length === 1`, "one past chat matching")
	waitDOM(t, ctx, "#past li .match", "my parcel is lost")
	waitDOM(t, ctx, "#past li .name", "Pia")
	do(t, ctx, chromedp.Click(chromedp.CSS("#past li button")))
	waitDOM(t, ctx, "#transcript", "my parcel is lost")
	waitDOM(t, ctx, "#state", "ended")
	waitJS(t, ctx, `document.getElementById('text').disabled`, "no reply to a past chat")
	if n := eval[int](t, ctx, `document.querySelectorAll('#chats li').length`); n != 0 {
		t.Errorf("the past chat shows under My chats too (%d items)", n)
	}
	screenshot(t, ctx, "console-past-1280")
	// On a phone the chat fills the screen; back shows the lists.
	do(t, ctx, chromedp.EmulateViewport(375, 667))
	waitJS(t, ctx, `getComputedStyle(document.querySelector('nav')).display === 'none'`, "the lists out of the way on a phone")
	screenshot(t, ctx, "console-past-375")
	do(t, ctx, chromedp.Click(chromedp.ID("back")))
	waitJS(t, ctx, `getComputedStyle(document.querySelector('nav')).display !== 'none' && getComputedStyle(document.getElementById('conversation')).display === 'none'`, "the lists back")
	screenshot(t, ctx, "console-past-375-lists")
}
