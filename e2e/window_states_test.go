package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// Sizes the window is looked at in: a desktop and a phone.
var (
	desktop = [2]int64{1280, 800}
	phone   = [2]int64{375, 667}
)

// shoot takes a screenshot of the tab at the desktop and the phone sizes,
// then returns to the desktop size.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, s := range []struct {
		suffix string
		size   [2]int64
	}{{"desktop", desktop}, {"phone", phone}} {
		do(t, ctx, chromedp.EmulateViewport(s.size[0], s.size[1]))
		// The layout settles before the picture (a frame later).
		eval[any](t, ctx, `new Promise(function (r) { requestAnimationFrame(function () { requestAnimationFrame(function () { r(null); }); }); })`)
		screenshot(t, ctx, name+"-"+s.suffix)
	}
	do(t, ctx, chromedp.EmulateViewport(desktop[0], desktop[1]))
}

// windowPage serves a page with a button opening the default window.
func windowPage(p *pages, gw *servertest.Gateway) string {
	return p.add("/window.html", testPage(gw.URL, "demo", "", "", `<button id="chat" onclick="window.__rec.command('WebChat.open')">Chat</button>`))
}

// openAndStart opens the window and starts a chat as nickname.
func openAndStart(t *testing.T, ctx context.Context, nickname string) {
	t.Helper()
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	do(t, ctx, chromedp.Click(chromedp.ID("chat")))
	waitJS(t, ctx, `document.querySelector('.cxgw-root input[name=nickname]') === document.activeElement`, "the form")
	do(t, ctx, sendKeys(".cxgw-root input[name=nickname]", nickname+"\r"))
	waitJS(t, ctx, `window.__count('started') === 1`, "the chat started")
}

// TestChatWindowWaiting: with nobody online, the window says the visitor
// waits, its place in the queue (second, behind a chat started before), and
// that nobody is available; when an agent comes online and takes the chat,
// the header names her and the waiting panel goes.
func TestChatWindowWaiting(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := windowPage(p, gw)
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(desktop[0], desktop[1]))

	// Someone else waits already.
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Early"}).Into(t, &struct{}{})

	navigate(t, ctx, url)
	openAndStart(t, ctx, "Vera")
	waitJS(t, ctx, `!document.querySelector('.cxgw-wait').hidden && document.querySelector('.cxgw-wait').textContent.indexOf('You are number 2 in the queue.') >= 0`, "the waiting panel with the queue position")
	waitJS(t, ctx, `document.querySelector('.cxgw-sub').textContent === 'Waiting for an agent'`, "the header saying the visitor waits")
	waitJS(t, ctx, `!document.querySelector('.cxgw-offer').hidden`, "the no-agent offer while nobody is online")
	if got := eval[string](t, ctx, `document.querySelector('.cxgw-log').textContent`); !strings.Contains(got, "Chat started") {
		t.Errorf("log %q, want the start notice", got)
	}
	shoot(t, ctx, "window-waiting")

	// Ann comes online: she takes both chats; the window names her.
	agent := dialAgent(t, gw)
	agent.assigned()
	agent.assigned()
	waitJS(t, ctx, `document.querySelector('.cxgw-sub').textContent === 'Chatting with Ann'`, "the agent's name in the header")
	waitJS(t, ctx, `document.querySelector('.cxgw-wait').hidden`, "the waiting panel gone")
	waitJS(t, ctx, `document.querySelector('.cxgw-log').textContent.indexOf('Ann joined the chat') >= 0`, "the joined notice")
	shoot(t, ctx, "window-connected")
}

// TestChatWindowNoAgentMessage: with nobody online the form and the waiting
// chat offer to leave a message; the message left from the window is stored
// (an agent lists it) and the chat that waited for nobody ends.
func TestChatWindowNoAgentMessage(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := windowPage(p, gw)
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(desktop[0], desktop[1]))
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	do(t, ctx, chromedp.Click(chromedp.ID("chat")))
	waitJS(t, ctx, `!document.querySelector('.cxgw-formoffer').hidden`, "the form saying nobody is available")
	shoot(t, ctx, "window-noagent-form")

	do(t, ctx, sendKeys(".cxgw-root input[name=nickname]", "Nadia\r"))
	waitJS(t, ctx, `window.__count('started') === 1`, "the chat started")
	waitJS(t, ctx, `!document.querySelector('.cxgw-offer').hidden`, "the offer to leave a message")
	shoot(t, ctx, "window-noagent-offer")

	eval[any](t, ctx, `document.querySelector('.cxgw-offer button').click(), null`)
	waitJS(t, ctx, `document.querySelector('.cxgw-root input[name=lname]').value === 'Nadia' && document.querySelector('.cxgw-root input[name=lemail]') === document.activeElement`, "the form, the name kept, the email to fill")
	// Sending without an email says what is missing.
	eval[any](t, ctx, `document.querySelector('.cxgw-root textarea[name=lmessage]').value = 'Please call me back about my order.', document.querySelector('.cxgw-root input[name=lemail]').form.requestSubmit(), null`)
	waitJS(t, ctx, `document.querySelector('.cxgw-root [role=alert]:not(:empty)') && [].some.call(document.querySelectorAll('.cxgw-root .cxgw-error'), function (e) { return e.textContent.indexOf('email') >= 0; })`, "the email asked for")
	do(t, ctx, sendKeys(".cxgw-root input[name=lemail]", "nadia@example.com"))
	shoot(t, ctx, "window-leave-form")
	eval[any](t, ctx, `document.querySelector('.cxgw-root input[name=lemail]').form.requestSubmit(), null`)
	waitJS(t, ctx, `[].some.call(document.querySelectorAll('.cxgw-done'), function (d) { return !d.hidden && d.textContent.indexOf('Thank you, Nadia') >= 0; })`, "the thanks")
	waitJS(t, ctx, `window.__count('ended') === 1`, "the waiting chat ended")
	shoot(t, ctx, "window-left")

	agent := dialAgent(t, gw)
	var list struct {
		Open []json.RawMessage `json:"open"`
	}
	if err := json.Unmarshal(agent.cmd("AgentService.listMessages", map[string]any{}), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Open) != 1 || !bytes.Contains(list.Open[0], []byte("Please call me back about my order.")) || !bytes.Contains(list.Open[0], []byte("nadia@example.com")) {
		t.Fatalf("left messages %s, want Nadia's", list.Open)
	}
}

// pngFile writes a w×h PNG of one colour and returns its path and bytes.
func pngFile(t *testing.T, name string, w, h int, c color.RGBA) (string, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b.Bytes()
}

// agentUpload sends a file into a chat as the agent (POST /v1/files).
func agentUpload(t *testing.T, gw *servertest.Gateway, chatID, name string, content []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("chatId", chatID)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/files", &body)
	req.Header.Set("Authorization", "Bearer "+gw.AgentToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("agent upload %s: HTTP %d", name, resp.StatusCode)
	}
}

// TestChatWindowInlineImage: an image the visitor attaches and one the agent
// sends show inline (decoded by the browser), the agent's opens at full size;
// another file shows as a card with its name, type and size; a message over
// the gateway's limit is refused in the window, not sent.
func TestChatWindowInlineImage(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := windowPage(p, gw)
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(desktop[0], desktop[1]))
	agent := dialAgent(t, gw)
	navigate(t, ctx, url)
	openAndStart(t, ctx, "Ines")
	chatID := agent.assigned()
	waitJS(t, ctx, `document.querySelector('.cxgw-attach') && !document.querySelector('.cxgw-attach').hidden`, "the attach button")

	// The visitor's image.
	path, _ := pngFile(t, "screenshot.png", 240, 160, color.RGBA{0x2e, 0x8b, 0x57, 0xff})
	do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS(".cxgw-root input[type=file]"), []string{path}))
	agent.next("AgentService.messageReceived", func(d json.RawMessage) bool { return bytes.Contains(d, []byte(`"FileUploaded"`)) })
	waitJS(t, ctx, `(function () { var i = document.querySelector('.cxgw-log .cxgw-mine .cxgw-thumb img'); return i && i.complete && i.naturalWidth === 240; })()`, "the visitor's image inline")

	// The agent's image, and a text file.
	_, agentPNG := pngFile(t, "map.png", 400, 300, color.RGBA{0xd9, 0x53, 0x4f, 0xff})
	agentUpload(t, gw, chatID, "map.png", agentPNG)
	waitJS(t, ctx, `(function () { var i = document.querySelector('.cxgw-log li:not(.cxgw-mine) .cxgw-thumb img'); return i && i.complete && i.naturalWidth === 400 && i.alt === 'map.png'; })()`, "the agent's image inline")
	agentUpload(t, gw, chatID, "invoice.txt", []byte(strings.Repeat("total 42\n", 300)))
	waitJS(t, ctx, `[].some.call(document.querySelectorAll('.cxgw-log .cxgw-card'), function (c) {
  return c.querySelector('.cxgw-fname').textContent === 'invoice.txt' && /^text\/plain · 3 KB$/.test(c.querySelector('.cxgw-finfo').textContent); })`, "the text file as a card with type and size")
	shoot(t, ctx, "window-images")

	// Full size, and back with Escape.
	eval[any](t, ctx, `document.querySelector('.cxgw-log li:not(.cxgw-mine) .cxgw-thumb').click(), null`)
	waitJS(t, ctx, `(function () { var v = document.querySelector('.cxgw-viewer'); var i = v.querySelector('img'); return !v.hidden && i.complete && i.naturalWidth === 400; })()`, "the image at full size")
	shoot(t, ctx, "window-image-full")
	do(t, ctx, chromedp.KeyEvent("\x1b"))
	waitJS(t, ctx, `document.querySelector('.cxgw-viewer').hidden && !document.querySelector('.cxgw-root').classList.contains('cxgw-minimized')`, "the viewer closed, the window still open")

	// The limit: the textarea has the gateway's, and a longer text is refused before sending.
	if got := eval[string](t, ctx, `document.querySelector('.cxgw-root textarea').getAttribute('maxlength')`); got != "4096" {
		t.Errorf("textarea maxlength %q, want limits.messageChars 4096", got)
	}
	eval[any](t, ctx, `(function () { var ta = document.querySelector('.cxgw-root textarea'); ta.value = 'x'.repeat(4097); ta.form.requestSubmit(); })(), null`)
	waitJS(t, ctx, `document.querySelector('.cxgw-status').textContent.indexOf('longer than 4096 characters') >= 0`, "the refusal")
	if n := eval[int](t, ctx, `document.querySelectorAll('.cxgw-log .cxgw-pending, .cxgw-log .cxgw-failed').length`); n != 0 {
		t.Errorf("%d sending/failed bubbles for a refused message", n)
	}
	if got := eval[int](t, ctx, `document.querySelector('.cxgw-root textarea').value.length`); got != 4097 {
		t.Errorf("the refused text was not kept (%d chars)", got)
	}
	eval[any](t, ctx, `document.querySelector('.cxgw-root textarea').value = '', null`)
	do(t, ctx, sendKeys(".cxgw-root textarea", "short one\r"))
	agent.waitText(chatID, "short one")
}

// TestDemoStatusAndFiles: the demo's custom UI hides its start form when the
// chat starts from the default window, keeps its status line true (waiting,
// then the agent's name, also after the next page restores the chat) and
// shows a file from the agent as a download button.
func TestDemoStatusAndFiles(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{}) // the demo setup
	ctx := newBrowser(t)
	navigate(t, ctx, gw.URL+"/demo/")
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Ready.'`, "the demo ready")
	do(t, ctx, chromedp.Click(chromedp.ID("open-window")))
	waitJS(t, ctx, `document.querySelector('.cxgw-root input[name=nickname]') === document.activeElement`, "the window's form")
	do(t, ctx, sendKeys(".cxgw-root input[name=nickname]", "Dora\r"))
	waitJS(t, ctx, `document.getElementById('start-form').hidden && !document.getElementById('chat').hidden`, "the demo's start form hidden")
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Waiting for an agent\u2026 You are number 1 in the queue.'`, "the demo waiting, with its place")

	agent := dialAgent(t, gw)
	chatID := agent.assigned()
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Chatting with Ann.'`, "the demo naming the agent")
	_, img := pngFile(t, "map.png", 40, 30, color.RGBA{0, 0, 0xff, 0xff})
	agentUpload(t, gw, chatID, "map.png", img)
	waitJS(t, ctx, `[].some.call(document.querySelectorAll('#transcript .file button'), function (b) { return b.textContent === 'map.png'; })`, "the agent's file in the demo")

	navigate(t, ctx, gw.URL+"/demo/?page=2")
	waitJS(t, ctx, `document.getElementById('transcript').textContent.indexOf('map.png') >= 0 && document.getElementById('start-form').hidden`, "the chat restored")
	waitJS(t, ctx, `document.getElementById('status').textContent === 'Chatting with Ann.'`, "the status still naming the agent")
}

// TestChatWindowBusyQueue: with the only agent online but full, the window
// waits without offering a message (someone will serve), says what waits
// have lately been, and names the agent once she frees a slot.
func TestChatWindowBusyQueue(t *testing.T) {
	p := newPages(t)
	cfg := config.Demo()
	cfg.Agents[0].MaxChats = 3
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Origins: []string{p.URL}})
	url := windowPage(p, gw)
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(desktop[0], desktop[1]))
	agent := dialAgent(t, gw)
	var first string
	for i := range 3 {
		wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Busy"}).Into(t, &struct{}{})
		id := agent.assigned()
		if i == 0 {
			first = id
		}
	}
	navigate(t, ctx, url)
	openAndStart(t, ctx, "Olga")
	waitJS(t, ctx, `document.querySelector('.cxgw-wait').textContent.indexOf('You are next in the queue. Lately, visitors waited less than a minute.') >= 0`, "the place and the recent waits")
	if eval[bool](t, ctx, `!document.querySelector('.cxgw-offer').hidden`) {
		t.Error("a message offered while an agent is online")
	}
	agent.cmd("AgentService.endChat", map[string]any{"chatId": first})
	waitJS(t, ctx, `document.querySelector('.cxgw-sub').textContent === 'Chatting with Ann'`, "the agent's name once she is free")
}
