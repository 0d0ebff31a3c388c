package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// Proactive engagement (seeds/000, docs/proactive.md): pages of another
// origin that carry nothing but the loader tag, a gateway whose deployments
// configure triggers and items, and a visitor browsing in Chromium.

// proactiveGateway starts a gateway with Ann (not online until an agent
// dials) and the given deployments (YAML list items), on the pages' origin.
func proactiveGateway(t *testing.T, p *pages, deployments string) *servertest.Gateway {
	t.Helper()
	src := `adminToken: admin-secret
queues: [{name: support}]
agents:
  - {id: ann, name: Ann, token: ann-secret, kind: human, maxChats: 5}
deployments:
` + deployments
	cfg, err := config.Parse(strings.NewReader(src))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	return servertest.Start(t, servertest.Options{Config: &cfg, Origins: []string{p.URL}})
}

// sitePage adds a page of the site whose whole integration is the loader tag.
func sitePage(p *pages, gw *servertest.Gateway, deployment, path, title, body string) string {
	return p.add(path, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>`+title+`</title></head>
<body><h1>`+title+`</h1>`+body+`
<script src="`+gw.URL+`/widgets/loader.js?deployment=`+deployment+`" async></script>
</body></html>`)
}

// cmReady waits until the Chat Manager runs on the page.
func cmReady(t *testing.T, ctx context.Context) {
	t.Helper()
	waitJS(t, ctx, `window._cxgate && window._cxgate.chatManager === true && !!window._genesys.widgets.bus`, "the Chat Manager")
}

// cmCommand runs a ChatManager (or any bus) command and returns its settled value.
func cmCommand[T any](t *testing.T, ctx context.Context, command string, opts string) T {
	t.Helper()
	if opts == "" {
		opts = "{}"
	}
	return eval[T](t, ctx, `new Promise(function (resolve, reject) {
  window._genesys.widgets.bus.command(`+jsString(command)+`, `+opts+`).done(resolve).fail(function (e) { reject(new Error(JSON.stringify(e))); });
})`)
}

type cmSession struct {
	URL        string         `json:"url"`
	Visits     int            `json:"visits"`
	PageViews  int            `json:"pageViews"`
	TimeOnPage int            `json:"timeOnPage"`
	TimeOnSite int            `json:"timeOnSite"`
	Variables  map[string]any `json:"variables"`
	Pages      []struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"pages"`
}

func session(t *testing.T, ctx context.Context) cmSession {
	t.Helper()
	return cmCommand[cmSession](t, ctx, "ChatManager.getSession", "")
}

// shownItems lists the items on the page as "name/mode".
func shownItems(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, `Array.from(document.querySelectorAll('[data-cxgate-item]')).map(function (e) {
  return e.getAttribute('data-cxgate-item') + '/' + e.getAttribute('data-cxgate-mode'); })`)
}

// waitItem waits until the item shows in mode.
func waitItem(t *testing.T, ctx context.Context, name, mode string) {
	t.Helper()
	waitJS(t, ctx, `(function () { var e = document.querySelector('[data-cxgate-item="`+name+`"]');
  return e && e.getAttribute('data-cxgate-mode') === '`+mode+`'; })()`, "item "+name+" ("+mode+")")
}

// settledFor waits until the page has been open for seconds (its triggers
// had every chance to fire) and returns the items shown.
func settledFor(t *testing.T, ctx context.Context, seconds int) []string {
	t.Helper()
	cmReady(t, ctx)
	waitJS(t, ctx, fmt.Sprintf(`(function () { window.__cmSettled = window.__cmSettled || {};
  if (window.__cmSettled.v >= %d) return true;
  window._genesys.widgets.bus.command('ChatManager.getSession').done(function (s) { window.__cmSettled.v = s.timeOnPage; });
  return false; })()`, seconds), fmt.Sprintf("%d s on the page", seconds))
	return shownItems(t, ctx)
}

const triggersDeployment = `
  - key: shop
    mode: live
    queue: support
    origins: ["*"]
    variables:
      - {name: cart, selector: "#cart-total", type: number}
    triggers:
      - name: cart-help
        when: {all: [{url: "*/checkout*"}, {var: cart, op: ">=", value: 100}]}
        action: {show: cart-invite}
      - name: linger
        when: {all: [{url: "*/product*"}, {timeOnPage: 2s}]}
        action: {show: product-invite}
      - name: returning
        when: {visits: 2}
        action: {show: welcome-button}
    items:
      - name: cart-invite
        kind: invitation
        online: {title: "Need help with your order?", text: "An agent is ready.", accept: "Chat now", decline: "No thanks"}
      - name: product-invite
        kind: invitation
        online: {title: "Questions about this product?", accept: "Ask us", decline: "Not now"}
      - name: welcome-button
        kind: button
        online: {text: "Welcome back: chat with us"}
`

// TestProactive_ConfiguredTriggers: three configured triggers (time on page; a
// URL glob with a cart variable set after load; a visit count) each show
// their item on the right page and nothing elsewhere; a declined invitation
// stays away for the visit; and nothing of the session reaches the gateway
// (the test watches every request and socket frame).
func TestProactive_ConfiguredTriggers(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, triggersDeployment)
	home := sitePage(p, gw, "shop", "/home", "Home", `<p>Welcome</p>`)
	product := sitePage(p, gw, "shop", "/product/42", "Product 42", `<p>A product</p>`)
	checkout := sitePage(p, gw, "shop", "/checkout", "Checkout", `<p>Total: <span id="cart-total">$0.00</span></p>`)
	ctx := newBrowser(t)
	net := watchNetwork(ctx, gw.URL)
	// Nothing of the session reaches the gateway: no page, title or variable.
	defer func() {
		if leaked := net.containing("product/42", "Product 42", "checkout", "Checkout", "1150", "1,150", `"visits"`); len(leaked) != 0 {
			t.Errorf("session data left the browser without engagement: %q", leaked)
		}
		if len(net.containing("/widgets/chatmanager.js")) == 0 {
			t.Errorf("the network watch saw nothing of the gateway")
		}
	}()

	// Visit 1, home: nothing matches.
	navigate(t, ctx, home)
	if got := settledFor(t, ctx, 3); len(got) != 0 {
		t.Errorf("home, first visit: items %v, want none", got)
	}

	// Product page: the invitation comes after 2 s on the page, not before.
	navigate(t, ctx, product)
	cmReady(t, ctx)
	waitItem(t, ctx, "product-invite", "online")
	if s := session(t, ctx); s.TimeOnPage < 2 {
		t.Errorf("product invitation after %d s on the page, want at least 2", s.TimeOnPage)
	}
	if got := shownItems(t, ctx); len(got) != 1 {
		t.Errorf("product page items %v, want the product invitation only", got)
	}
	// It is announced, labelled and never takes the focus.
	waitJS(t, ctx, `/Questions about this product\?/.test(document.getElementById('cxcm-live').textContent)`, "the invitation announced")
	inv := eval[map[string]any](t, ctx, `(function () { var e = document.querySelector('[data-cxgate-item="product-invite"]');
  var title = document.getElementById(e.getAttribute('aria-labelledby'));
  return {focusInside: e.contains(document.activeElement), title: title && title.textContent,
          live: (document.getElementById('cxcm-live') || {}).textContent || ''}; })()`)
	if inv["focusInside"] != false || inv["title"] != "Questions about this product?" || !strings.Contains(inv["live"].(string), "Questions about this product?") {
		t.Errorf("invitation: %v", inv)
	}
	// Declined from the keyboard, it is gone and not offered again in this visit.
	eval[any](t, ctx, `document.querySelector('[data-cxgate-item="product-invite"] .cxcm-decline').focus(); null`)
	do(t, ctx, chromedp.KeyEvent("\r"))
	waitJS(t, ctx, `!document.querySelector('[data-cxgate-item="product-invite"]')`, "the declined invitation gone")
	navigate(t, ctx, product)
	if got := settledFor(t, ctx, 3); len(got) != 0 {
		t.Errorf("product page after a decline: items %v, want none", got)
	}

	// Checkout: the cart variable is read from the page; it passes 100 after load.
	navigate(t, ctx, checkout)
	if got := settledFor(t, ctx, 3); len(got) != 0 {
		t.Errorf("checkout with an empty cart: items %v, want none", got)
	}
	eval[any](t, ctx, `(function () { var rec = window._genesys.widgets.bus.registerPlugin('Rec'); window.__cm = [];
  ['triggerActivated', 'itemShown'].forEach(function (n) { rec.subscribe('ChatManager.' + n, function (e) { window.__cm.push(n + ' ' + JSON.stringify(e.data)); }); });
  document.getElementById('cart-total').textContent = '$1,150.00'; return null; })()`)
	waitItem(t, ctx, "cart-invite", "online")
	waitJS(t, ctx, `window.__cm.length === 2`, "the Chat Manager's events")
	if got := eval[[]string](t, ctx, `window.__cm`); got[0] != `triggerActivated {"trigger":"cart-help"}` || got[1] != `itemShown {"item":"cart-invite","mode":"online"}` {
		t.Errorf("ChatManager events: %q", got)
	}
	if s := session(t, ctx); s.Variables["cart"] != 1150.0 || s.Visits != 1 || s.PageViews != 4 {
		t.Errorf("session on checkout: %+v", s)
	}
	cmCommand[any](t, ctx, "ChatManager.hideItems", "")
	if got := shownItems(t, ctx); len(got) != 0 {
		t.Errorf("after hideItems: items %v", got)
	}

	// A visit starts after 30 minutes without a page view: move the last one back.
	eval[any](t, ctx, `(function () { var k = Object.keys(localStorage).filter(function (k) { return k.indexOf('cxgate.chatmanager:shop@') === 0; })[0];
  var st = JSON.parse(localStorage.getItem(k)); st.lastView -= 31 * 60 * 1000; localStorage.setItem(k, JSON.stringify(st)); return null; })()`)
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitItem(t, ctx, "welcome-button", "online")
	if s := session(t, ctx); s.Visits != 2 || s.PageViews != 1 {
		t.Errorf("second visit: %+v", s)
	}
	if got := shownItems(t, ctx); len(got) != 1 {
		t.Errorf("home, second visit: items %v, want the welcome button only", got)
	}
}

// netWatch records what the tab sends to the gateway: request URLs, headers
// and bodies, and WebSocket frames.
type netWatch struct {
	mu   sync.Mutex
	sent []string
}

func watchNetwork(ctx context.Context, gateway string) *netWatch {
	w := &netWatch{}
	_ = chromedp.Listen(ctx, func(ev any) {
		var s string
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if !strings.HasPrefix(ev.Request.URL, gateway+"/") {
				return // the site's own pages
			}
			var b strings.Builder
			b.WriteString(ev.Request.Method + " " + ev.Request.URL)
			h, _ := json.Marshal(ev.Request.Headers)
			b.WriteString(" " + string(h))
			for _, e := range ev.Request.PostDataEntries {
				b.Write(e.Bytes)
			}
			s = b.String()
		case *network.EventWebSocketFrameSent:
			if ev.Response != nil {
				s = "WS " + string(ev.Response.PayloadData)
			}
		default:
			return
		}
		w.mu.Lock()
		w.sent = append(w.sent, s)
		w.mu.Unlock()
	})
	return w
}

// containing returns what was sent that contains any of the needles.
func (w *netWatch) containing(needles ...string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.sent {
		for _, n := range needles {
			if strings.Contains(s, n) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

const helpDeployment = `
  - key: help
    mode: live
    queue: support
    origins: ["*"]
    triggers:
      - name: help-invite
        when: {url: "*/help*"}
        onlyIfAgentsAvailable: true
        action: {show: help-invite}
      - name: everywhere
        action: {show: chat-button}
    items:
      - name: help-invite
        kind: invitation
        online: {title: "Talk to an expert?", text: "Ann is online and happy to help.", accept: "Chat now", decline: "No thanks"}
      - name: chat-button
        kind: button
        online: {text: "Chat with us"}
        offline: {text: "Leave a message"}
`

// sitePageWith is sitePage with some text around, for pictures.
func helpPages(p *pages, gw *servertest.Gateway) (help, home string) {
	body := `<p>Everything about our products, delivery and returns.</p><p>` + strings.Repeat("Lorem ipsum dolor sit amet. ", 30) + `</p>`
	return sitePage(p, gw, "help", "/help/delivery", "Help: delivery", body), sitePage(p, gw, "help", "/home", "Home", body)
}

// TestProactive_AgentsAvailable: with no agent online the
// onlyIfAgentsAvailable invitation shows nothing and the button shows its
// offline variant, which leads to a stored offline message that an agent
// answers and the returning visitor reads; with an agent online the
// invitation shows.
func TestProactive_AgentsAvailable(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, helpDeployment)
	help, home := helpPages(p, gw)
	ctx := newBrowser(t)

	navigate(t, ctx, help)
	cmReady(t, ctx)
	waitItem(t, ctx, "chat-button", "offline")
	if got := settledFor(t, ctx, 2); len(got) != 1 || got[0] != "chat-button/offline" {
		t.Fatalf("no agent online: items %v, want only chat-button/offline", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('[data-cxgate-item="chat-button"]').textContent`); got != "Leave a message" {
		t.Errorf("offline button says %q", got)
	}

	// What the page knows of the visitor prefills the form.
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'name', value: 'Vera Visitor'}`)
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'email', value: 'vera@example.com'}`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`[data-cxgate-item="chat-button"]`)))
	waitJS(t, ctx, `!!document.querySelector('[data-cxgate-form="leave-message"]')`, "the leave-a-message form")
	form := eval[map[string]any](t, ctx, `(function () { var f = document.querySelector('[data-cxgate-form="leave-message"]');
  return {name: f.querySelector('[name=name]').value, email: f.querySelector('[name=email]').value,
          focused: document.activeElement && document.activeElement.name, items: document.querySelectorAll('[data-cxgate-item]').length}; })()`)
	if form["name"] != "Vera Visitor" || form["email"] != "vera@example.com" || form["focused"] != "message" || form["items"] != 0.0 {
		t.Errorf("leave-a-message form: %v", form)
	}
	do(t, ctx, sendKeys(`[data-cxgate-form="leave-message"] textarea`, "When do you deliver to Lyon?"))
	do(t, ctx, chromedp.Click(chromedp.CSS(`[data-cxgate-form="leave-message"] button[type=submit]`)))
	waitJS(t, ctx, `/Thank you, Vera Visitor/.test(document.querySelector('[data-cxgate-form="leave-message"]').textContent)`, "the thanks")

	// Ann comes online, finds the message and answers it.
	ann := dialAgent(t, gw)
	var list struct {
		Open []struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Email   string `json:"email"`
			Message string `json:"message"`
			Context struct {
				Pages []struct {
					URL string `json:"url"`
				} `json:"pages"`
			} `json:"context"`
		} `json:"open"`
	}
	if err := json.Unmarshal(ann.cmd("AgentService.listMessages", map[string]any{}), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Open) != 1 || list.Open[0].Message != "When do you deliver to Lyon?" || list.Open[0].Email != "vera@example.com" || list.Open[0].Name != "Vera Visitor" {
		t.Fatalf("AgentService.listMessages = %+v", list)
	}
	// The message carries the visit's context: leaving it engaged the visitor.
	if pages := list.Open[0].Context.Pages; len(pages) == 0 || !strings.HasSuffix(pages[len(pages)-1].URL, "/help/delivery") {
		t.Errorf("left message's context: %+v", list.Open[0].Context)
	}
	ann.cmd("AgentService.answerMessage", map[string]any{"id": list.Open[0].ID, "message": "Every Tuesday, Vera."})

	// With Ann online the invitation shows on the help page (and wins over the button).
	navigate(t, ctx, help)
	cmReady(t, ctx)
	waitItem(t, ctx, "help-invite", "online")
	// The visitor, back with its kept identity, reads the answer.
	waitJS(t, ctx, `/Every Tuesday, Vera\./.test((document.querySelector('[data-cxgate-answer]') || {}).textContent || '')`, "the answer")
	screenshot(t, ctx, "proactive-answer-desktop")
	if got := shownItems(t, ctx); len(got) != 1 || got[0] != "help-invite/online" {
		t.Errorf("agent online: items %v, want help-invite/online only", got)
	}

	// Elsewhere the button is online now.
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitItem(t, ctx, "chat-button", "online")
}

// TestProactive_Screenshots takes pictures of a button, an invitation and the
// leave-a-message form at desktop and phone sizes (into $E2E_SCREENSHOTS),
// and checks that on a phone they fit the screen.
func TestProactive_Screenshots(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, helpDeployment)
	help, home := helpPages(p, gw)
	ctx := newBrowser(t)
	for _, size := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		do(t, ctx, chromedp.EmulateViewport(size.width, size.height))
		fits := func(what string) {
			t.Helper()
			ok := eval[bool](t, ctx, `Array.from(document.querySelectorAll('[data-cxgate-item], [data-cxgate-form]')).every(function (e) {
  var r = e.getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight; })`)
			if !ok {
				t.Errorf("%s, %s: an item is not wholly on the screen", size.name, what)
			}
		}
		navigate(t, ctx, home)
		cmReady(t, ctx)
		waitItem(t, ctx, "chat-button", "offline")
		fits("offline button")
		screenshot(t, ctx, "proactive-button-offline-"+size.name)
		do(t, ctx, chromedp.Click(chromedp.CSS(`[data-cxgate-item="chat-button"]`)))
		waitJS(t, ctx, `!!document.querySelector('[data-cxgate-form="leave-message"]')`, "the leave-a-message form")
		fits("leave-a-message form")
		screenshot(t, ctx, "proactive-leave-message-"+size.name)
	}
	dialAgent(t, gw)
	for _, size := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		do(t, ctx, chromedp.EmulateViewport(size.width, size.height))
		navigate(t, ctx, help)
		cmReady(t, ctx)
		waitItem(t, ctx, "help-invite", "online")
		waitJS(t, ctx, `document.getAnimations().every(function (a) { return a.playState === 'finished'; })`, "the invitation's entrance")
		screenshot(t, ctx, "proactive-invitation-"+size.name)
		navigate(t, ctx, home)
		cmReady(t, ctx)
		waitItem(t, ctx, "chat-button", "online")
		screenshot(t, ctx, "proactive-button-online-"+size.name)
	}
}

// startFromWindow fills the default chat window's form and starts the chat;
// it returns once the window shows the chat.
func startFromWindow(t *testing.T, ctx context.Context, nickname string) {
	t.Helper()
	waitJS(t, ctx, `(function () { var r = document.querySelector('.cxgw-root'); return r && !r.hidden && !r.querySelector('.cxgw-form').hidden; })()`, "the chat window's form")
	eval[any](t, ctx, `(function () { var r = document.querySelector('.cxgw-root'); r.querySelector('[name=nickname]').value = `+jsString(nickname)+`;
  r.querySelector('.cxgw-form').requestSubmit(); return null; })()`)
	waitJS(t, ctx, `!document.querySelector('.cxgw-root .cxgw-compose').hidden`, "the chat view")
}

// sendFromWindow sends text from the default chat window.
func sendFromWindow(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	eval[any](t, ctx, `(function () { var r = document.querySelector('.cxgw-root'); r.querySelector('textarea').value = `+jsString(text)+`;
  r.querySelector('.cxgw-compose').requestSubmit(); return null; })()`)
}

type contextUpdate struct {
	ChatID  string `json:"chatId"`
	Context struct {
		Pages []struct {
			Title string `json:"title"`
			URL   string `json:"url"`
			At    int64  `json:"at"`
		} `json:"pages"`
		Variables map[string]any `json:"variables"`
		Visits    int            `json:"visits"`
		PageViews int            `json:"pageViews"`
	} `json:"context"`
}

// nextContext waits for the agent's contextUpdated of chatID that satisfies match.
func (a *agent) nextContext(chatID string, match func(contextUpdate) bool) contextUpdate {
	a.t.Helper()
	var got contextUpdate
	a.next("AgentService.contextUpdated", func(d json.RawMessage) bool {
		var c contextUpdate
		if json.Unmarshal(d, &c) != nil || c.ChatID != chatID {
			return false
		}
		got = c
		return match(c)
	})
	return got
}

// TestProactive_EngagedVisitor: a visitor who engaged keeps the chat across
// pages and sees no other item, and the agent sees its pages and variables
// as it browses; before it engaged, nothing of its session reached the
// gateway (the test watches every request and socket frame).
func TestProactive_EngagedVisitor(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, helpDeployment)
	help, home := helpPages(p, gw)
	ctx := newBrowser(t)
	net := watchNetwork(ctx, gw.URL)
	ann := dialAgent(t, gw)

	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitItem(t, ctx, "chat-button", "online")
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'plan', value: 'zebra-gold'}`)
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'cart', value: 987.65}`)
	if leaked := net.containing("zebra-gold", "987.65", "/home", `"pages"`); len(leaked) != 0 {
		t.Fatalf("session data left the browser before engagement: %q", leaked)
	}

	do(t, ctx, chromedp.Click(chromedp.CSS(`[data-cxgate-item="chat-button"]`)))
	if got := shownItems(t, ctx); len(got) != 0 {
		t.Errorf("items %v still shown with the chat window open", got)
	}
	startFromWindow(t, ctx, "Vera")
	chatID := ann.assigned()
	c := ann.nextContext(chatID, func(c contextUpdate) bool { return c.Context.Variables["plan"] == "zebra-gold" })
	// The browser reports what it sent on its own schedule: the agent may have it first.
	wiretest.WaitFor(t, waitTimeout, func() bool { return len(net.containing("zebra-gold")) > 0 })
	if len(c.Context.Pages) != 1 || !strings.HasSuffix(c.Context.Pages[0].URL, "/home") || c.Context.Pages[0].Title != "Home" || c.Context.Variables["cart"] != 987.65 {
		t.Errorf("context at engagement: %+v", c.Context)
	}
	sendFromWindow(t, ctx, "Hello, I have a question")
	ann.waitText(chatID, "Hello, I have a question")

	// The next page: the chat continues, the help invitation (which Ann's
	// presence would show) does not.
	navigate(t, ctx, help)
	cmReady(t, ctx)
	waitJS(t, ctx, `(function () { var r = document.querySelector('.cxgw-root'); return r && !r.hidden && !r.querySelector('.cxgw-compose').hidden; })()`, "the chat window on the next page")
	if got := settledFor(t, ctx, 2); len(got) != 0 {
		t.Errorf("engaged visitor sees items %v", got)
	}
	c = ann.nextContext(chatID, func(c contextUpdate) bool { return len(c.Context.Pages) == 2 })
	if !strings.HasSuffix(c.Context.Pages[1].URL, "/help/delivery") || c.Context.Pages[1].Title != "Help: delivery" || c.Context.PageViews != 2 {
		t.Errorf("context after the second page: %+v", c.Context)
	}
	// A variable set while engaged reaches the agent too.
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'plan', value: 'zebra-platinum'}`)
	ann.nextContext(chatID, func(c contextUpdate) bool { return c.Context.Variables["plan"] == "zebra-platinum" })
	ann.say(chatID, "Sure, ask away")
	waitJS(t, ctx, `/Sure, ask away/.test(document.querySelector('.cxgw-log').textContent)`, "the agent's answer")

	// Minimized here, minimized on the next page.
	cmCommand[any](t, ctx, "WebChat.minimize", `{minimized: true}`)
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitJS(t, ctx, `(function () { var r = document.querySelector('.cxgw-root'); return r && !r.hidden && r.classList.contains('cxgw-minimized'); })()`, "the chat minimized on the next page")
	if got := settledFor(t, ctx, 2); len(got) != 0 {
		t.Errorf("engaged visitor sees items %v", got)
	}
	// A new tab of the site, which never showed the chat: there too, minimized.
	tab := newTab(t, ctx, "tab2")
	navigate(t, tab, help)
	cmReady(t, tab)
	waitJS(t, tab, `(function () { var r = document.querySelector('.cxgw-root'); return r && !r.hidden && r.classList.contains('cxgw-minimized'); })()`, "the chat minimized in a new tab")
}

// TestProactive_Conditions: referrer globs, not, any, var contains and exists,
// and page views compared; a trigger of lower rank never replaces the item of
// a higher one on the same page.
func TestProactive_Conditions(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, `
  - key: cond
    mode: live
    queue: support
    origins: ["*"]
    triggers:
      - name: from-ad
        when: {all: [{referrer: "*/ad-landing*"}, {not: {url: "*/ad-landing*"}}]}
        action: {show: ad-button}
      - name: vip
        when: {any: [{var: plan, op: contains, value: "GOLD"}, {var: vip, op: exists}]}
        action: {show: vip-button}
      - name: third
        when: {pageViews: {op: ">=", value: 4}}
        action: {show: third-button}
    items:
      - {name: ad-button, kind: button, online: {text: "Questions about the offer?"}, style: {position: bottom-left, background: "#7a1f00"}}
      - {name: vip-button, kind: button, online: {text: "Your gold line"}, style: {background: "#ffee00"}}
      - {name: third-button, kind: button, online: {text: "Need help finding it?"}}
`)
	page := sitePage(p, gw, "cond", "/page", "Page", `<p>A page</p>`)
	landing := sitePage(p, gw, "cond", "/ad-landing", "Offer", `<p><a id="go" href="/page">See the page</a></p>`)
	ctx := newBrowser(t)

	navigate(t, ctx, landing) // 1
	if got := settledFor(t, ctx, 2); len(got) != 0 {
		t.Errorf("landing: items %v, want none", got)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("go"))) // 2, with the landing page as referrer
	waitJS(t, ctx, `location.pathname === '/page'`, "the next page")
	cmReady(t, ctx)
	waitItem(t, ctx, "ad-button", "online")
	// Styled from the configuration: bottom left, its colour (white on it passes 4.5:1).
	look := func(item string) map[string]any {
		return eval[map[string]any](t, ctx, `(function () { var e = document.querySelector('[data-cxgate-item="`+item+`"]');
  var r = e.getBoundingClientRect(); return {bg: getComputedStyle(e).backgroundColor, left: r.left < window.innerWidth / 2}; })()`)
	}
	if got := look("ad-button"); got["bg"] != "rgb(122, 31, 0)" || got["left"] != true {
		t.Errorf("ad-button: %v, want its colour, at the left", got)
	}
	// vip becomes verified too, but from-ad ranks first: its item stays alone.
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'plan', value: 'The gold plan'}`)
	if got := settledFor(t, ctx, 3); len(got) != 1 || got[0] != "ad-button/online" {
		t.Errorf("after plan set: items %v, want ad-button only", got)
	}

	navigate(t, ctx, page) // 3, no referrer: the variable kept for the visit shows vip
	cmReady(t, ctx)
	waitItem(t, ctx, "vip-button", "online")
	// White on yellow is unreadable: the default colours stay.
	if got := look("vip-button"); got["bg"] != "rgb(11, 92, 173)" || got["left"] != false {
		t.Errorf("vip-button: %v, want the default colour, at the right", got)
	}
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'plan', value: null}`)

	navigate(t, ctx, page) // 4
	cmReady(t, ctx)
	waitItem(t, ctx, "third-button", "online")
	cmCommand[any](t, ctx, "ChatManager.setVariable", `{name: 'vip', value: true}`)
	waitItem(t, ctx, "vip-button", "online") // ranks before third: it takes over
	if got := shownItems(t, ctx); len(got) != 1 {
		t.Errorf("items %v, want vip-button only", got)
	}
}

// TestProactive_Embedded: an embedded deployment renders the chat inline in
// the page's [data-cxgate-embed] element, shows no item there, and the chat
// goes on (floating) on a page without one.
func TestProactive_Embedded(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, `
  - key: inline
    mode: async
    queue: support
    origins: ["*"]
    display: embedded
    triggers:
      - name: everywhere
        action: {show: chat-button}
    items:
      - name: chat-button
        kind: button
        online: {text: "Chat with us"}
`)
	contact := sitePage(p, gw, "inline", "/contact", "Contact", `<p>Write to us below.</p><div id="here" data-cxgate-embed style="height:520px"></div><p>Footer</p>`)
	home := sitePage(p, gw, "inline", "/home", "Home", `<p>Welcome</p>`)
	ctx := newBrowser(t)
	ann := dialAgent(t, gw)

	navigate(t, ctx, contact)
	cmReady(t, ctx)
	waitJS(t, ctx, `(function () { var r = document.querySelector('#here > .cxgw-root'); return r && !r.hidden && r.getBoundingClientRect().height > 300; })()`, "the chat inline")
	inline := eval[map[string]any](t, ctx, `(function () { var r = document.querySelector('#here > .cxgw-root');
  return {position: getComputedStyle(r).position, focusInside: r.contains(document.activeElement),
          closeShown: Array.from(r.querySelectorAll('.cxgw-icon')).some(function (b) { return b.offsetParent !== null; })}; })()`)
	if inline["position"] != "relative" || inline["focusInside"] != false || inline["closeShown"] != false {
		t.Errorf("embedded window: %v", inline)
	}
	if got := settledFor(t, ctx, 2); len(got) != 0 {
		t.Errorf("embedded page shows items %v", got)
	}
	startFromWindow(t, ctx, "Ina")
	chatID := ann.assigned()
	sendFromWindow(t, ctx, "Hi from the contact page")
	ann.waitText(chatID, "Hi from the contact page")
	screenshot(t, ctx, "proactive-embedded-desktop")

	// A page without the element: the engaged chat continues floating, no item.
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitJS(t, ctx, `(function () { var r = document.querySelector('body > .cxgw-root'); return r && !r.hidden; })()`, "the chat floating on the next page")
	if got := settledFor(t, ctx, 2); len(got) != 0 {
		t.Errorf("engaged visitor sees items %v", got)
	}

	// Days later, the browser kept only the identity: the contact page shows
	// the open conversation inline, not a new form.
	eval[any](t, ctx, `(function () { Object.keys(localStorage).forEach(function (k) {
    if (k.indexOf('_genesys.widgets.webchat.state.') === 0 || k.indexOf('cxgate.chatmanager:') === 0) localStorage.removeItem(k); });
  sessionStorage.clear(); return null; })()`)
	navigate(t, ctx, contact)
	cmReady(t, ctx)
	waitJS(t, ctx, `(function () { var r = document.querySelector('#here > .cxgw-root'); return r && !r.hidden && /Hi from the contact page/.test(r.querySelector('.cxgw-log').textContent); })()`, "the conversation inline")
}

// TestProactive_AdminChange: a trigger changed through the admin API is in
// force on the next page view once the browser's copy of the loader expired
// (it may keep it for a minute: the test clears the cache instead of waiting).
func TestProactive_AdminChange(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, `
  - key: shop
    mode: live
    queue: support
    origins: ["*"]
    triggers:
      - name: everywhere
        action: {show: chat-button}
    items:
      - name: chat-button
        kind: button
        online: {text: "Chat with us"}
      - name: promo
        kind: invitation
        online: {title: "Spring sale", accept: "Ask us", decline: "No thanks"}
`)
	home := sitePage(p, gw, "shop", "/home", "Home", `<p>Welcome</p>`)
	ctx := newBrowser(t)
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitItem(t, ctx, "chat-button", "online")

	body := `{"key": "shop", "mode": "live", "queue": "support", "origins": [` + jsString(p.URL) + `],
  "triggers": [{"name": "promo-after-1s", "when": {"timeOnPage": "1s"}, "action": {"show": "promo"}}],
  "items": [{"name": "chat-button", "kind": "button", "online": {"text": "Chat with us"}},
            {"name": "promo", "kind": "invitation", "online": {"title": "Spring sale", "accept": "Ask us", "decline": "No thanks"}}]}`
	req, err := http.NewRequest(http.MethodPut, gw.URL+"/v1/admin/deployments/shop", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-secret")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT deployment: %d %s", res.StatusCode, out)
	}
	if _, err := chromedp.Call(ctx, network.ClearBrowserCache, cdp.Empty{}); err != nil {
		t.Fatalf("clear cache: %v", err)
	}
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitItem(t, ctx, "promo", "online")
	if got := shownItems(t, ctx); len(got) != 1 {
		t.Errorf("after the change: items %v, want the promo only", got)
	}
}

// TestProactive_Messaging: on an asynchronous deployment a visitor whose kept
// identity has an open conversation gets it opened on its next visit (the
// messaging trigger), past the continuation's idle limit; a new visitor gets
// the configured items.
func TestProactive_Messaging(t *testing.T) {
	p := newPages(t)
	gw := proactiveGateway(t, p, `
  - key: msg
    mode: async
    queue: support
    origins: ["*"]
    triggers:
      - name: everywhere
        action: {show: chat-button}
    items:
      - name: chat-button
        kind: button
        online: {text: "Message us"}
        offline: {text: "Leave a message"}
`)
	home := sitePage(p, gw, "msg", "/home", "Home", `<p>Welcome</p>`)
	ctx := newBrowser(t)
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitItem(t, ctx, "chat-button", "online") // messaging mode: online, even with no agent online
	ann := dialAgent(t, gw)
	do(t, ctx, chromedp.Click(chromedp.CSS(`[data-cxgate-item="chat-button"]`)))
	startFromWindow(t, ctx, "Mia")
	chatID := ann.assigned()
	sendFromWindow(t, ctx, "Message one")
	ann.waitText(chatID, "Message one")

	// A day later, in a new tab: the chat kept on this browser is forgotten
	// (only the identity stays), the continuation does not apply.
	eval[any](t, ctx, `(function () {
  Object.keys(localStorage).forEach(function (k) {
    if (k.indexOf('_genesys.widgets.webchat.state.') === 0) localStorage.removeItem(k);
    if (k.indexOf('cxgate.chatmanager:') === 0) { var st = JSON.parse(localStorage.getItem(k)); st.engagedAt -= 25 * 3600 * 1000; st.lastView -= 25 * 3600 * 1000; localStorage.setItem(k, JSON.stringify(st)); }
  });
  sessionStorage.clear(); return null; })()`)
	navigate(t, ctx, home)
	cmReady(t, ctx)
	waitJS(t, ctx, `(function () { var r = document.querySelector('.cxgw-root'); return r && !r.hidden && /Message one/.test(r.querySelector('.cxgw-log').textContent); })()`, "the open conversation opened")
	if got := settledFor(t, ctx, 2); len(got) != 0 {
		t.Errorf("messaging trigger: items %v shown too", got)
	}

	// Another browser, no identity: the configured button.
	other := newBrowser(t)
	navigate(t, other, home)
	cmReady(t, other)
	waitItem(t, other, "chat-button", "online")
}

// TestProactive_Demo: the demo site's proactive pages show a button (its
// offline variant while Ann is offline), an invitation after a few seconds
// on the product page, and the embedded chat on the contact page.
func TestProactive_Demo(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ctx := newBrowser(t)
	navigate(t, ctx, gw.URL+"/demo/proactive/")
	cmReady(t, ctx)
	waitItem(t, ctx, "chat-button", "offline")
	screenshot(t, ctx, "proactive-demo-home")

	navigate(t, ctx, gw.URL+"/demo/proactive/product.html")
	cmReady(t, ctx)
	do(t, ctx, chromedp.Click(chromedp.ID("add")))
	waitItem(t, ctx, "product-invite", "offline")
	if s := session(t, ctx); s.TimeOnPage < 5 || s.Variables["cart"] != 39.9 || s.Variables["product"] != "blue kettle" {
		t.Errorf("product page session: %+v", s)
	}

	dialAgent(t, gw)
	navigate(t, ctx, gw.URL+"/demo/proactive/product.html")
	cmReady(t, ctx)
	waitItem(t, ctx, "product-invite", "online")
	waitJS(t, ctx, `document.getAnimations().every(function (a) { return a.playState === 'finished'; })`, "the invitation's entrance")
	screenshot(t, ctx, "proactive-demo-invitation")

	navigate(t, ctx, gw.URL+"/demo/proactive/contact.html")
	cmReady(t, ctx)
	waitJS(t, ctx, `(function () { var r = document.querySelector('[data-cxgate-embed] > .cxgw-root'); return r && !r.hidden; })()`, "the embedded chat")
	screenshot(t, ctx, "proactive-demo-embedded")
}
