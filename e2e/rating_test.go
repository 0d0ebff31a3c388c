package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

// hookReceiver collects the webhook payloads a gateway posts to it.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []map[string]any
	seen map[string]bool
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{seen: map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		var p map[string]any
		if json.Unmarshal(body, &p) == nil {
			r.mu.Lock()
			r.got = append(r.got, p)
			r.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// find returns the first payload of event, if it came.
func (r *hookReceiver) find(event string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.got {
		if p["event"] == event {
			return p
		}
	}
	return nil
}

// savedFile waits for a finished download in dir whose name starts with
// prefix and returns its content.
func savedFile(t *testing.T, dir, prefix string) string {
	t.Helper()
	var content string
	waitFor(t, "a downloaded "+prefix+"* file", func() bool {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), ".txt") {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err == nil && len(b) > 0 {
					content = string(b)
					_ = os.Remove(filepath.Join(dir, e.Name()))
					return true
				}
			}
		}
		return false
	})
	return content
}

// TestRatingAndTranscript: the visitor saves the transcript during the
// chat, ends it in the default window, rates it 4 with a comment and saves
// the transcript again; the agent's socket receives the rating and
// getTranscript shows it, the console shows it, the webhook receiver gets
// chat.rated and /metrics counts it.
func TestRatingAndTranscript(t *testing.T) {
	p := newPages(t)
	hooks := newHookReceiver(t)
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.AllowPrivateWebhooks = true
	cfg.Webhooks = []config.Webhook{{ID: "ratings", URL: hooks.URL + "/hook", Secret: "hook-secret-1", Events: []string{"chat.rated"}}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Origins: []string{p.URL}})
	url := p.add("/rate.html", testPage(gw.URL, "demo", "", "", `<button id="chat" onclick="window.__rec.command('WebChat.open')">Chat</button>`))
	agent := dialAgent(t, gw)

	// Ann's console, in a browser of its own.
	console := newBrowser(t)
	do(t, console, chromedp.EmulateViewport(1280, 800))
	navigate(t, console, gw.URL+"/agent/")
	do(t, console, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, console, "#conn", "connected")

	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1024, 768))
	downloads := t.TempDir()
	do(t, ctx, chromedp.Func(func(c context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(c, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	}))
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	do(t, ctx, chromedp.Click(chromedp.ID("chat")))
	waitJS(t, ctx, `document.querySelector('.cxgw-root input[name=nickname]') === document.activeElement`, "the form")
	do(t, ctx, sendKeys(".cxgw-root input[name=nickname]", "Vera\r"))
	chatID := agent.assigned()
	waitJS(t, ctx, `document.querySelector('.cxgw-root textarea') === document.activeElement`, "the chat view")
	do(t, ctx, sendKeys(".cxgw-root textarea", "where is my parcel?\r"))
	agent.waitText(chatID, "where is my parcel?")
	agent.say(chatID, "It left today, Vera.")
	waitJS(t, ctx, `document.querySelector('.cxgw-log').textContent.indexOf('It left today, Vera.') >= 0`, "the agent's reply")
	waitDOM(t, console, chatItem(chatID), "Vera")
	do(t, console, chromedp.Click(chromedp.CSS(chatItem(chatID)+" button")))
	waitDOM(t, console, "#transcript", "It left today, Vera.")

	// During the chat: the transcript as a file.
	clickButton := func(text string) {
		t.Helper()
		waitJS(t, ctx, `[].some.call(document.querySelectorAll('.cxgw-root button'), function (b) { return b.textContent === `+jsString(text)+` && b.offsetParent !== null; })`, "the button "+text)
		eval[any](t, ctx, `[].filter.call(document.querySelectorAll('.cxgw-root button'), function (b) { return b.textContent === `+jsString(text)+` && b.offsetParent !== null; })[0].click(), null`)
	}
	screenshot(t, ctx, "rating-chatting-desktop")
	clickButton("Save transcript")
	during := savedFile(t, downloads, "chat-transcript-")
	for _, want := range []string{"Vera: where is my parcel?", "Ann: It left today, Vera.", "Ann joined the chat"} {
		if !strings.Contains(during, want) {
			t.Errorf("the transcript saved during the chat lacks %q:\n%s", want, during)
		}
	}

	// End it: the rating form shows.
	clickButton("End chat")
	eval[any](t, ctx, `[].filter.call(document.querySelectorAll('.cxgw-root [role=group] button'), function (b) { return b.textContent === 'End chat'; })[0].click(), null`)
	agent.next("AgentService.chatEnded", nil)
	waitJS(t, ctx, `!document.querySelector('.cxgw-rate').closest('[hidden]') && document.querySelector('.cxgw-rating button[type=submit]').disabled`, "the rating form, nothing picked")
	screenshot(t, ctx, "rating-form-desktop")
	do(t, ctx, chromedp.EmulateViewport(360, 640))
	if w := eval[float64](t, ctx, `document.querySelector('.cxgw-rate').getBoundingClientRect().right`); w > 360 {
		t.Errorf("the rating form reaches %v px on a 360 px screen", w)
	}
	screenshot(t, ctx, "rating-form-phone")

	// Four stars and a comment (text, never HTML).
	comment := `Quick and kind <b>thanks</b>`
	do(t, ctx, chromedp.Click(chromedp.CSS(`.cxgw-stars label:nth-of-type(4)`)))
	waitJS(t, ctx, `document.querySelectorAll('.cxgw-star.cxgw-on').length === 4 && !document.querySelector('.cxgw-rating button[type=submit]').disabled`, "four stars picked")
	do(t, ctx, sendKeys(".cxgw-rate textarea", comment))
	screenshot(t, ctx, "rating-form-phone-filled")
	clickButton("Send rating")
	waitJS(t, ctx, `document.querySelector('.cxgw-thanks').textContent === 'Thank you for your feedback.' && !!document.querySelector('.cxgw-rate').hidden`, "the thanks")
	screenshot(t, ctx, "rating-thanks-phone")

	// The agent's socket, getTranscript, the console.
	var pushed struct {
		ChatID  string `json:"chatId"`
		Rating  int    `json:"rating"`
		Comment string `json:"comment"`
	}
	_ = json.Unmarshal(agent.next("AgentService.chatRated", nil), &pushed)
	if pushed.ChatID != chatID || pushed.Rating != 4 || pushed.Comment != comment {
		t.Errorf("chatRated = %+v", pushed)
	}
	var tr struct {
		Rating struct {
			Rating  int    `json:"rating"`
			Comment string `json:"comment"`
		} `json:"rating"`
	}
	_ = json.Unmarshal(agent.cmd("AgentService.getTranscript", map[string]any{"chatId": chatID}), &tr)
	if tr.Rating.Rating != 4 || tr.Rating.Comment != comment {
		t.Errorf("getTranscript rating = %+v", tr.Rating)
	}
	waitDOM(t, console, "#rating", "Visitor rated 4/5")
	waitDOM(t, console, "#rating q", comment)
	if eval[bool](t, console, `!!document.querySelector('#rating b')`) {
		t.Error("the comment was rendered as HTML in the console")
	}
	screenshot(t, console, "rating-console")

	// The webhook and the metrics.
	waitFor(t, "the chat.rated webhook", func() bool { return hooks.find("chat.rated") != nil })
	hook := hooks.find("chat.rated")
	data, _ := hook["data"].(map[string]any)
	chat, _ := hook["chat"].(map[string]any)
	if data["rating"] != float64(4) || data["comment"] != comment || chat["id"] != chatID {
		t.Errorf("chat.rated payload %v", hook)
	}
	resp, err := http.Get(gw.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `cxgate_chat_ratings_total{rating="4"} 1`) || !strings.Contains(string(body), `cxgate_chat_ratings_total{rating="5"} 0`) {
		t.Errorf("/metrics lacks the rating:\n%s", grepLines(string(body), "cxgate_chat_ratings_total"))
	}

	// After the chat: the transcript still saves, from the ended chat.
	clickButton("Save transcript")
	after := savedFile(t, downloads, "chat-transcript-")
	for _, want := range []string{"Vera: where is my parcel?", "Ann: It left today, Vera.", "Vera left the chat"} {
		if !strings.Contains(after, want) {
			t.Errorf("the transcript saved after the chat lacks %q:\n%s", want, after)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
