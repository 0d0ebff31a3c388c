package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

func messageItem(id string) string { return `#leftmsgs button[data-message="` + id + `"]` }

// TestConsole_MessagesAndContext drives the console's side of proactive
// engagement in Chromium: the "Messages" list shows what visitors left while
// offline (also one left while Ann is signed in, from her stream), Ann reads
// one with the visit's pages and variables and answers it, and the visitor
// reads the answer back; in a chat, the context panel shows the pages (title,
// URL, time) and the variables the visitor's browser sends, updated live.
func TestConsole_MessagesAndContext(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: consoleConfig()})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	visit := func(vars map[string]any, pages ...[2]string) map[string]any {
		ps := []any{}
		for i, p := range pages {
			ps = append(ps, map[string]any{"title": p[0], "url": p[1], "at": 1767225600000 + int64(i)*60000})
		}
		return map[string]any{"pages": ps, "variables": vars, "visits": 3, "pageViews": len(pages), "timeOnSite": 125000}
	}
	var first struct{ ID, IdentityToken string }
	guest.Command("WebChatService.leaveMessage", map[string]any{"name": "Ida", "email": "ida@example.com",
		"message": "Do you ship to Norway? <img src=x onerror=window.__xss=1>",
		"context": visit(map[string]any{"cart_amount": 120}, [2]string{"Shoes", "http://shop.test/shoes"}, [2]string{"Cart", "http://shop.test/cart"})}).Into(t, &first)

	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
	navigate(t, ctx, gw.URL+"/agent/")
	do(t, ctx, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, ctx, "#conn", "connected")
	waitDOM(t, ctx, messageItem(first.ID), "Ida")
	waitDOM(t, ctx, "#openCount", "1")

	// One left while Ann is signed in arrives on her stream.
	var second struct{ ID string }
	guest.Command("WebChatService.leaveMessage", map[string]any{"email": "max@example.com", "message": "Call me back"}).Into(t, &second)
	waitDOM(t, ctx, messageItem(second.ID), "max@example.com")
	waitDOM(t, ctx, "#openCount", "2")

	// Ann opens Ida's: the text (as text), who, the pages and the variables.
	do(t, ctx, chromedp.Click(chromedp.CSS(messageItem(first.ID))))
	waitDOM(t, ctx, "#msgText", "Do you ship to Norway? <img src=x onerror=window.__xss=1>")
	waitDOM(t, ctx, "#msgFrom", "ida@example.com")
	waitDOM(t, ctx, "#msgPages li.now .ptitle", "Cart")
	waitDOM(t, ctx, "#msgPages li.now .purl", "http://shop.test/cart")
	waitDOM(t, ctx, "#msgPages", "Shoes")
	waitDOM(t, ctx, "#msgVars", "cart_amount")
	waitDOM(t, ctx, "#msgVars", "120")
	if eval[bool](t, ctx, `window.__xss !== undefined || !!document.querySelector('#message img')`) {
		t.Error("the visitor's message was rendered as HTML")
	}
	screenshot(t, ctx, "proactive-console-1-message")

	// She answers; the list and the pane say so; the visitor reads it back.
	do(t, ctx, sendKeys("#answerText", "Yes, within 3 days."), chromedp.Click(chromedp.ID("answerSend")))
	waitDOM(t, ctx, "#msgAnswer", "Yes, within 3 days.")
	waitDOM(t, ctx, "#msgAnswer", "Answered by Ann")
	waitDOM(t, ctx, messageItem(first.ID)+" .badge", "answered")
	waitDOM(t, ctx, "#openCount", "1")
	waitJS(t, ctx, `document.getElementById('answer').hidden`, "the answer form gone once answered")
	var mine struct {
		Messages []struct {
			ID     string
			Answer *struct{ Text, AgentName string }
		}
	}
	guest.Command("WebChatService.listLeftMessages", map[string]any{"identityToken": first.IdentityToken}).Into(t, &mine)
	if len(mine.Messages) != 1 || mine.Messages[0].Answer == nil || mine.Messages[0].Answer.Text != "Yes, within 3 days." {
		t.Fatalf("the visitor reads %+v", mine)
	}
	screenshot(t, ctx, "proactive-console-2-answered")

	// A chat: the context panel follows the visitor's browsing.
	eval[bool](t, ctx, `(function () { var s = document.getElementById('status'); s.value = 'online'; s.dispatchEvent(new Event('change')); return true; })()`)
	bob := dialAgentAs(t, gw, "bob-secret-token", "online")
	waitFor(t, "ann online", func() bool { return agentStatus(bob, "ann") == "online" })
	vera := startVisitor(t, gw, "demo", map[string]any{"nickname": "Vera"})
	vera.cmd("WebChatService.updateContext", map[string]any{"context": visit(map[string]any{"cart_amount": 80, "logged_in": true},
		[2]string{"Home", "http://shop.test/"}, [2]string{"Boots", "http://shop.test/boots"})})
	vera.say("Hello")
	waitDOM(t, ctx, chatItem(vera.chatID), "Vera")
	do(t, ctx, chromedp.Click(chromedp.CSS(chatItem(vera.chatID)+" button")))
	waitDOM(t, ctx, "#transcript", "Hello")
	waitDOM(t, ctx, "#pages li.now .ptitle", "Boots")
	waitDOM(t, ctx, "#pages li.now .purl", "http://shop.test/boots")
	waitDOM(t, ctx, "#variables", "logged_in")
	waitDOM(t, ctx, "#variables", "80")
	waitDOM(t, ctx, "#visitor", "Page views")
	vera.cmd("WebChatService.updateContext", map[string]any{"context": visit(map[string]any{"cart_amount": 240, "logged_in": true},
		[2]string{"Home", "http://shop.test/"}, [2]string{"Boots", "http://shop.test/boots"}, [2]string{"Checkout", "http://shop.test/checkout"})})
	waitDOM(t, ctx, "#pages li.now .ptitle", "Checkout")
	waitDOM(t, ctx, "#variables", "240")
	if n := eval[int](t, ctx, `document.querySelectorAll('#pages li').length`); n != 3 {
		t.Errorf("%d pages listed, want 3", n)
	}
	screenshot(t, ctx, "proactive-console-3-context")
}
