package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestConsoleCannedAndNotes: in the console, "/" in the composer opens the
// deployment's canned responses, typing filters them, the arrows choose,
// Enter inserts (to be edited and sent) and Esc closes; the "Note" toggle
// sends an internal note, shown as one in the console and nowhere on the
// visitor's page, whose chat window gets the replies around it.
func TestConsoleCannedAndNotes(t *testing.T) {
	p := newPages(t)
	cfg := consoleConfig()
	cfg.Deployments[0].CannedResponses = []config.CannedResponse{
		{Shortcut: "greet", Text: "Hello, how can I help?"},
		{Shortcut: "refund", Text: "Refunds reach your card within 5 working days."},
		{Shortcut: "thanks", Text: "Thanks for chatting with us. Have a good day!"},
		{Shortcut: "hours", Text: "We are open Monday to Friday, 9 to 5, and we answer every message left outside those hours the next working day."},
	}
	gw := servertest.Start(t, servertest.Options{Config: cfg, Origins: []string{p.URL}})
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
	navigate(t, ctx, gw.URL+"/agent/")
	do(t, ctx, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, ctx, "#conn", "connected")
	eval[bool](t, ctx, `(function () { var s = document.getElementById('status'); s.value = 'online'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitJS(t, ctx, `document.getElementById('golive').hidden`, "Ann online")

	// The visitor, in the default chat window of a page on another origin.
	vis := newTab(t, ctx, "visitor")
	url := p.add("/window.html", testPage(gw.URL, "demo", "", "", `<button id="chat" onclick="window.__rec.command('WebChat.open')">Chat</button>`))
	navigate(t, vis, url)
	waitJS(t, vis, `window.__count('ready') === 1`, "ready")
	do(t, vis, chromedp.Click(chromedp.ID("chat")))
	waitJS(t, vis, `document.querySelector('.cxgw-root input[name=nickname]') === document.activeElement`, "the form")
	do(t, vis, sendKeys(".cxgw-root input[name=nickname]", "Vera\r"))
	waitJS(t, vis, `document.querySelector('.cxgw-root textarea') === document.activeElement`, "the chat view")
	do(t, vis, sendKeys(".cxgw-root textarea", "where is my refund?\r"))

	// Ann opens the chat; "/" lists every canned response of demo.
	// The list is rebuilt as the chat queues and is assigned: click in the
	// page, on whatever node holds the chat at that moment.
	waitJS(t, ctx, `(function () { var b = document.querySelector('#chats li button'); if (b) b.click(); return !!b; })()`, "the chat in Ann's list")
	waitDOM(t, ctx, "#transcript", "where is my refund?")
	do(t, ctx, sendKeys("#text", "/"))
	waitJS(t, ctx, `!document.getElementById('canned').hidden && document.querySelectorAll('#canned li[role=option]').length === 4`, "the four canned responses")
	if got := eval[string](t, ctx, `document.getElementById('text').getAttribute('aria-expanded') + ' ' + document.querySelector('#canned li[aria-selected=true] .shortcut').textContent`); got != "true /greet" {
		t.Errorf("the open list: %q, want expanded with /greet chosen", got)
	}
	screenshot(t, ctx, "canned-list-1280")
	do(t, ctx, chromedp.EmulateViewport(375, 667))
	waitJS(t, ctx, `document.getElementById('canned').getBoundingClientRect().width > 0`, "the list on a phone")
	if w := eval[float64](t, ctx, `(function () { var r = document.getElementById('canned').getBoundingClientRect(); return r.right > 375 || r.left < 0 || r.top < 0 ? -1 : r.width; })()`); w < 200 {
		t.Errorf("the list on a 375 px phone: width %v (-1: off screen)", w)
	}
	screenshot(t, ctx, "canned-list-375")
	do(t, ctx, chromedp.EmulateViewport(1280, 800))

	// Typing filters: "re" puts /refund first (its shortcut starts so), then
	// what contains it elsewhere; the arrows move, Enter inserts.
	do(t, ctx, sendKeys("#text", "re"))
	waitJS(t, ctx, `document.querySelector('#canned li[role=option] .shortcut').textContent === '/refund'`, "the list filtered by re")
	do(t, ctx, chromedp.KeyEvent(kb.ArrowDown))
	waitJS(t, ctx, `document.querySelector('#canned li[aria-selected=true] .shortcut').textContent !== '/refund'`, "ArrowDown moved")
	do(t, ctx, chromedp.KeyEvent(kb.ArrowUp))
	waitJS(t, ctx, `document.querySelector('#canned li[aria-selected=true] .shortcut').textContent === '/refund'`, "ArrowUp moved back")
	do(t, ctx, enter)
	waitJS(t, ctx, `document.getElementById('canned').hidden`, "the list closed by Enter")
	if v := eval[string](t, ctx, `document.getElementById('text').value`); v != "Refunds reach your card within 5 working days." {
		t.Fatalf("after Enter the composer holds %q", v)
	}
	// Edited, then sent with Enter as any reply.
	do(t, ctx, sendKeys("#text", " /"))
	waitJS(t, ctx, `!document.getElementById('canned').hidden`, "the list after a space and /")
	do(t, ctx, chromedp.KeyEvent(kb.Escape))
	waitJS(t, ctx, `document.getElementById('canned').hidden`, "the list closed by Esc")
	eval[bool](t, ctx, `(function () { var t = document.getElementById('text'); t.value = t.value.slice(0, -2); return true; })()`)
	do(t, ctx, enter)
	waitJS(t, vis, `document.querySelector('.cxgw-log').textContent.indexOf('Refunds reach your card within 5 working days.') >= 0`, "the canned reply on the visitor's page")

	// A note: yellow, "Internal note", and never on the visitor's page.
	do(t, ctx, chromedp.Click(chromedp.ID("noteMode")))
	waitJS(t, ctx, `document.getElementById('noteMode').getAttribute('aria-pressed') === 'true' && document.getElementById('text').classList.contains('note')`, "note mode")
	do(t, ctx, sendKeys("#text", "VIP customer: refund approved by Sue"), enter)
	waitDOM(t, ctx, "#transcript li.internal", "VIP customer: refund approved by Sue")
	waitDOM(t, ctx, "#transcript li.internal .tag", "Internal note")
	if bg := eval[string](t, ctx, `getComputedStyle(document.querySelector('#transcript li.internal')).backgroundColor`); bg != "rgb(255, 246, 204)" {
		t.Errorf("the note's background is %s, want the note yellow", bg)
	}
	screenshot(t, ctx, "canned-note-1280")
	do(t, ctx, chromedp.Click(chromedp.ID("noteMode")))
	do(t, ctx, sendKeys("#text", "Anything else?"), enter)
	waitJS(t, vis, `document.querySelector('.cxgw-log').textContent.indexOf('Anything else?') >= 0`, "the reply after the note")
	page := eval[string](t, vis, `document.body.textContent + JSON.stringify(window.__events)`)
	if strings.Contains(page, "VIP") || strings.Contains(page, "refund approved") {
		t.Fatal("the visitor's page shows the internal note")
	}
	if strings.Count(eval[string](t, ctx, domText("#transcript")), "Internal note") != 1 {
		t.Error("the console does not show exactly one internal note")
	}
	screenshot(t, vis, "canned-visitor")
}
