package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// consoleConfig is the demo setup with a second agent and a second queue:
// "support" chats go to ann only, "billing" ones to bob only.
func consoleConfig() *config.Config {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Queues = []config.Queue{
		{Name: "support", Skills: []string{"support"}},
		{Name: "billing", Skills: []string{"billing"}},
	}
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-secret", Kind: config.KindHuman, Skills: []string{"support"}, MaxChats: 5},
		{ID: "bob", Name: "Bob", Token: "bob-secret-token", Kind: config.KindHuman, Skills: []string{"billing"}, MaxChats: 5},
	}
	return &cfg
}

// dialAgentAs connects an agent with token on the native wire and sets its
// status.
func dialAgentAs(t *testing.T, gw *servertest.Gateway, token, status string) *agent {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(gw.WSURL, nil)
	if err != nil {
		t.Fatalf("agent: dial: %v", err)
	}
	a := &agent{t: t, conn: conn, replies: map[int]chan frame{}, events: make(chan frame, 1024)}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.WriteJSON(map[string]any{"id": 0, "auth": map[string]any{"token": token, "after": 0}}); err != nil {
		t.Fatalf("agent: auth: %v", err)
	}
	var welcome frame
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if err := conn.ReadJSON(&welcome); err != nil || welcome.Status != "resolved" {
		t.Fatalf("agent: auth answer %+v, %v", welcome, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go a.read()
	a.cmd("AgentService.setStatus", map[string]any{"status": status})
	return a
}

// chatVisitor is a visitor on the native wire: startChat over HTTP, then a
// socket for commands and events.
type chatVisitor struct {
	t      *testing.T
	chatID string
	sock   *wiretest.Socket
}

func startVisitor(t *testing.T, gw *servertest.Gateway, deployment string, opts map[string]any) *chatVisitor {
	t.Helper()
	var started struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	wiretest.NewHTTP(t, gw.URL).WithDeployment(deployment).Command("WebChatService.startChat", opts).Into(t, &started)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(started.Token, 0)
	return &chatVisitor{t: t, chatID: started.ChatID, sock: sock}
}

func (v *chatVisitor) cmd(name string, opts any) json.RawMessage {
	v.t.Helper()
	return v.sock.Command(name, opts).Resolved(v.t)
}

func (v *chatVisitor) say(text string) {
	v.t.Helper()
	v.cmd("WebChatService.sendMessage", map[string]any{"message": text})
}

// await waits for the visitor event name whose data satisfies match (nil: any).
func (v *chatVisitor) await(name string, match func(wiretest.Event) bool) wiretest.Event {
	v.t.Helper()
	var seen []string
	deadline := time.Now().Add(waitTimeout)
	for {
		ev, ok := v.sock.Next(time.Until(deadline))
		if !ok {
			v.t.Fatalf("visitor: no %s within %v; got %s", name, waitTimeout, strings.Join(seen, ", "))
		}
		if ev.Name == name && (match == nil || match(ev)) {
			return ev
		}
		seen = append(seen, ev.String()+" "+string(ev.Data))
	}
}

// awaitText waits for a Message with text from a participant of type from.
func (v *chatVisitor) awaitText(text, from string) {
	v.t.Helper()
	v.await("WebChatService.messageReceived", func(ev wiretest.Event) bool {
		for _, m := range ev.Messages(v.t) {
			if m.Type == "Message" && m.Text == text && m.From.Type == from {
				return true
			}
		}
		return false
	})
}

// enter presses Enter with no char event, as a person's Enter reaches a
// handler that cancels its keydown (SendKeys' "\r" also types a newline).
var enter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13})
		if err != nil {
			return err
		}
	}
	return nil
})

// ---- the console's DOM

func domText(sel string) string {
	return `(document.querySelector(` + jsString(sel) + `) || {textContent: ''}).textContent`
}

// waitDOM waits until the element sel exists and its text contains want.
func waitDOM(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	waitJS(t, ctx, domText(sel)+`.includes(`+jsString(want)+`)`, sel+" showing "+want)
}

func chatItem(chatID string) string { return `#chats li[data-chat="` + chatID + `"]` }

// TestConsole drives the agent console in Chromium against a gateway: Ann
// signs in by typing her token and goes online; a visitor's chat arrives with
// an unread count; she opens it and sees the message and the visitor's
// context (pages visited, userData), sees the visitor typing, types (the
// visitor sees her typing) and replies; a network drop shows the reconnect
// indicator and loses nothing; she transfers the chat to Bob, who gets it
// with its history; a second chat she opens from the keyboard and resolves
// with a disposition, which ends it for the visitor; an asynchronous one she
// locks and unlocks. Visitor text is shown as text, never as HTML.
func TestConsole(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: consoleConfig()})
	proxy := newCutProxy(t, gw.Addr)
	bob := dialAgentAs(t, gw, "bob-secret-token", "online")
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))

	// Sign in by typing the token (a wrong one first); go online.
	navigate(t, ctx, proxy.URL+"/agent/")
	do(t, ctx, sendKeys("#token", "not-a-token\r"))
	waitDOM(t, ctx, "#notice", "Sign-in failed")
	screenshot(t, ctx, "console-0-sign-in")
	eval[string](t, ctx, `document.getElementById('token').value = ''`)
	do(t, ctx, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, ctx, "#who", "Ann (ann)")
	waitDOM(t, ctx, "#conn", "connected")
	if v := eval[string](t, ctx, `document.getElementById('status').value`); v != "offline" {
		t.Errorf("status after sign-in = %q, want offline", v)
	}
	eval[bool](t, ctx, `(function () { var s = document.getElementById('status'); s.value = 'online'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitFor(t, "ann online", func() bool { return agentStatus(bob, "ann") == "online" })
	screenshot(t, ctx, "console-1-signed-in")

	// A visitor's chat arrives in the list with its unread message.
	vera := startVisitor(t, gw, "demo", map[string]any{"nickname": "Vera", "email": "vera@example.com", "subject": "Refund",
		"userData": map[string]any{"page": "/shop/cart", "orderId": "A-1001", "note": "<b>bold?</b>"}})
	vera.say("Hello, where is my refund?")
	waitDOM(t, ctx, chatItem(vera.chatID), "Vera")
	waitDOM(t, ctx, chatItem(vera.chatID)+" .unread", "1")
	waitDOM(t, ctx, chatItem(vera.chatID)+" .preview", "Hello, where is my refund?")

	// Ann opens it: the message, the context, the pages visited.
	do(t, ctx, chromedp.Click(chromedp.CSS(chatItem(vera.chatID)+" button")))
	waitDOM(t, ctx, "#transcript", "Hello, where is my refund?")
	waitDOM(t, ctx, "#title", "Vera")
	waitDOM(t, ctx, "#visitor", "vera@example.com")
	waitDOM(t, ctx, "#visitor", "Refund")
	waitDOM(t, ctx, "#pages", "/shop/cart")
	waitDOM(t, ctx, "#userdata", "A-1001")
	waitDOM(t, ctx, "#userdata", "<b>bold?</b>")
	waitJS(t, ctx, `!document.querySelector('`+chatItem(vera.chatID)+` .unread')`, "the unread count cleared")
	vera.cmd("WebChatService.updateUserData", map[string]any{"page": "/shop/checkout"})
	waitDOM(t, ctx, "#pages li.now", "/shop/checkout")
	waitDOM(t, ctx, "#pages", "/shop/cart")

	// Typing both ways, then Ann's reply reaches the visitor.
	vera.cmd("WebChatService.sendTyping", map[string]any{"message": "I ordered"})
	waitDOM(t, ctx, "#typing", "Vera is typing…")
	waitDOM(t, ctx, chatItem(vera.chatID)+" .preview", "typing…")
	do(t, ctx, sendKeys("#text", "Hi Vera, let me check"))
	vera.await("WebChatService.agentTypingStarted", nil)
	do(t, ctx, enter)
	vera.awaitText("Hi Vera, let me check", "Agent")
	waitDOM(t, ctx, "#transcript li.mine", "Hi Vera, let me check")
	if v := eval[string](t, ctx, `document.getElementById('text').value`); v != "" {
		t.Errorf("the reply box still holds %q after sending", v)
	}

	// Visitor text is text: no element, no script.
	xss := "<img src=x onerror=window.__xss=1>"
	vera.say(xss)
	waitDOM(t, ctx, "#transcript li.visitor:last-child .text", xss)
	waitDOM(t, ctx, chatItem(vera.chatID)+" .preview", xss)
	time.Sleep(200 * time.Millisecond)
	if bad := eval[bool](t, ctx, `window.__xss !== undefined || document.querySelectorAll('img, #userdata b').length > 0`); bad {
		t.Error("visitor text was rendered as HTML")
	}
	screenshot(t, ctx, "console-2-chat")

	// The network drops: the indicator says so, and what was said meanwhile arrives.
	proxy.cut()
	waitDOM(t, ctx, "#conn", "reconnecting")
	vera.say("Are you still there?")
	screenshot(t, ctx, "console-3-reconnecting")
	proxy.restore()
	waitDOM(t, ctx, "#conn", "connected")
	waitDOM(t, ctx, "#transcript", "Are you still there?")

	// Transfer to Bob, chosen from listAgents in the dialog.
	do(t, ctx, chromedp.Click(chromedp.ID("transfer")))
	waitJS(t, ctx, `document.getElementById('transferDlg').open && document.querySelector('#target option[value="agent:bob"]') && !document.querySelector('#target option[value="agent:bob"]').disabled`, "Bob offered as a target")
	waitDOM(t, ctx, `#target option[value="agent:bob"]`, "Bob — online, 5 free")
	waitDOM(t, ctx, `#target option[value="queue:billing"]`, "billing — 0 waiting")
	if eval[bool](t, ctx, `!!document.querySelector('#target option[value="agent:ann"]')`) {
		t.Error("Ann is offered a transfer to herself")
	}
	screenshot(t, ctx, "console-4-transfer")
	do(t, ctx, chromedp.SetValue(chromedp.ID("target"), "agent:bob"), chromedp.Click(chromedp.ID("transferGo")))
	waitDOM(t, ctx, "#banner", "Transferred to Bob.")
	waitDOM(t, ctx, "#state", "transferred")
	waitDOM(t, ctx, chatItem(vera.chatID)+" .badge", "transferred")
	if !eval[bool](t, ctx, `document.getElementById('reply').hidden && document.getElementById('transfer').hidden && !document.getElementById('transferDlg').open`) {
		t.Error("a transferred chat still takes replies, or the dialog stayed open")
	}
	bob.next("AgentService.chatAssigned", func(d json.RawMessage) bool { return strings.Contains(string(d), vera.chatID) })
	var tr struct {
		Messages []wiretest.Message `json:"messages"`
	}
	if err := json.Unmarshal(bob.cmd("AgentService.getTranscript", map[string]any{"chatId": vera.chatID}), &tr); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range tr.Messages {
		if m.Type == "Message" {
			texts = append(texts, m.Text)
		}
	}
	if got := strings.Join(texts, "|"); got != "Hello, where is my refund?|Hi Vera, let me check|"+xss+"|Are you still there?" {
		t.Errorf("Bob's history = %q", got)
	}
	bob.say(vera.chatID, "Bob here, I handle refunds")
	vera.awaitText("Bob here, I handle refunds", "Agent")
	screenshot(t, ctx, "console-5-transferred")

	// A second chat, opened from the keyboard, resolved with a disposition.
	walt := startVisitor(t, gw, "demo", map[string]any{"nickname": "Walt", "userData": map[string]any{"pages": []string{"/", "/hours"}}})
	walt.say("Are you open on Sunday?")
	waitDOM(t, ctx, chatItem(walt.chatID)+" .unread", "1")
	do(t, ctx, chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	waitDOM(t, ctx, "#title", "Walt")
	waitDOM(t, ctx, "#transcript", "Are you open on Sunday?")
	waitDOM(t, ctx, "#pages", "/hours")
	do(t, ctx, sendKeys("#text", "Yes, from 10 to 4."), enter)
	walt.awaitText("Yes, from 10 to 4.", "Agent")
	do(t, ctx, chromedp.Click(chromedp.ID("resolve")))
	waitJS(t, ctx, `document.getElementById('resolveDlg').open && document.activeElement === document.getElementById('disposition')`, "the resolve dialog, focused")
	do(t, ctx, sendKeys("#disposition", "Answered question"))
	screenshot(t, ctx, "console-6-resolve")
	do(t, ctx, chromedp.KeyEvent(kb.Enter))
	waitDOM(t, ctx, "#banner", "Resolved: Answered question.")
	waitDOM(t, ctx, "#state", "resolved")
	waitDOM(t, ctx, chatItem(walt.chatID)+" .badge", "resolved")
	walt.await("WebChatService.ended", nil)
	screenshot(t, ctx, "console-7-resolved")

	// An asynchronous conversation: lock and unlock.
	asa := startVisitor(t, gw, "demo-async", map[string]any{"nickname": "Asa"})
	asa.say("A question for later")
	waitDOM(t, ctx, chatItem(asa.chatID), "Asa")
	do(t, ctx, chromedp.Click(chromedp.CSS(chatItem(asa.chatID)+" button")))
	waitDOM(t, ctx, "#title", "Asa")
	waitJS(t, ctx, `!document.getElementById('lock').hidden`, "the lock button of an async chat")
	do(t, ctx, chromedp.Click(chromedp.ID("lock")))
	waitDOM(t, ctx, "#state", "locked")
	waitDOM(t, ctx, "#lock", "Unlock")
	if e := asa.sock.Command("WebChatService.sendMessage", map[string]any{"message": "let me in"}).Rejected(t); e.Code != "chat_locked" {
		t.Errorf("a message to a locked chat: %+v", e)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("lock")))
	waitDOM(t, ctx, "#lock", "Lock")
	waitDOM(t, ctx, "#state", "active")
	asa.say("thanks for unlocking")
	waitDOM(t, ctx, "#transcript", "thanks for unlocking")

	// End asks for a second press.
	do(t, ctx, chromedp.Click(chromedp.ID("end")))
	waitDOM(t, ctx, "#end", "Confirm end")
	if s := eval[string](t, ctx, domText("#state")); s != "active" {
		t.Errorf("one press of End: state %q", s)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("end")))
	waitDOM(t, ctx, "#banner", "You ended the chat.")
	waitDOM(t, ctx, "#state", "ended")
	waitDOM(t, ctx, chatItem(asa.chatID)+" .badge", "ended")

	// Usable at 800 px wide: the actions and the reply box are on screen.
	do(t, ctx, chromedp.EmulateViewport(800, 700))
	nina := startVisitor(t, gw, "demo", map[string]any{"nickname": "Nina", "userData": map[string]any{"page": "/faq"}})
	nina.say("One more question")
	waitDOM(t, ctx, chatItem(nina.chatID), "Nina")
	do(t, ctx, chromedp.Click(chromedp.CSS(chatItem(nina.chatID)+" button")))
	waitDOM(t, ctx, "#transcript", "One more question")
	waitDOM(t, ctx, "#pages", "/faq")
	if !eval[bool](t, ctx, `['transfer', 'resolve', 'end', 'text', 'send', 'pages'].every(function (id) {
		var r = document.getElementById(id).getBoundingClientRect();
		return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight;
	})`) {
		t.Error("at 800 px some controls are off screen")
	}
	screenshot(t, ctx, "console-8-800px")
}

func agentStatus(a *agent, id string) string {
	var r struct {
		Agents []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"agents"`
	}
	_ = json.Unmarshal(a.cmd("AgentService.listAgents", nil), &r)
	for _, x := range r.Agents {
		if x.ID == id {
			return x.Status
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
