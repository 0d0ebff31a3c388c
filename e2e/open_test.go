package e2e

import (
	"context"
	"encoding/json"
	"testing"
)

// TestWebChatOpenForm: Genesys' WebChat.open options. form prefills the
// window's form and, with autoSubmit, starts the chat without showing it;
// the form's names, email and subject and open's userData reach the agent.
func TestWebChatOpenForm(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	open := `<script>function openChat() {
  return window.__rec.command('WebChat.open', {
    form: {autoSubmit: true, firstname: 'Johnathan', lastname: 'Smith', email: 'jon.smith@mail.com', subject: 'product questions'},
    userData: {customerId: '59606', page: 'pricing'}
  });
}</script>`
	url := p.add("/open.html", testPage(gw.URL, "demo", "", "", open))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")

	eval[any](t, ctx, `window.__settle(openChat())`)
	chatID := agent.assigned()
	waitJS(t, ctx, `window.__count('started') === 1 && document.querySelector('.cxgw-root textarea') !== null && !document.querySelector('.cxgw-root form.cxgw-form').offsetParent`, "the chat view without the form")

	c, err := gw.Store().Chat(context.Background(), chatID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Visitor.Nickname != "Johnathan Smith" || c.Visitor.Firstname != "Johnathan" || c.Visitor.Lastname != "Smith" ||
		c.Visitor.Email != "jon.smith@mail.com" || c.Subject != "product questions" {
		t.Errorf("visitor %+v, subject %q: want the open form's fields", c.Visitor, c.Subject)
	}
	var ud map[string]any
	if err := json.Unmarshal(c.UserData, &ud); err != nil || ud["customerId"] != "59606" || ud["page"] != "pricing" {
		t.Errorf("userData %s: want open's userData", c.UserData)
	}

	// Without autoSubmit the form is shown, prefilled, and waits for the visitor.
	eval[any](t, ctx, `window.__settle(window.__rec.command('WebChatService.endChat'))`)
	agent.next("AgentService.chatEnded", nil)
	eval[any](t, ctx, `window.__settle(window.__rec.command('WebChat.close'))`)
	eval[any](t, ctx, `window.__settle(window.__rec.command('WebChat.open', {form: {firstname: 'Ann-Marie', email: 'am@example.com'}}))`)
	waitJS(t, ctx, `!!document.querySelector('.cxgw-root form.cxgw-form').offsetParent`, "the form")
	if got := eval[string](t, ctx, `document.querySelector('.cxgw-root input[name=nickname]').value + '|' + document.querySelector('.cxgw-root input[name=email]').value`); got != "Ann-Marie|am@example.com" {
		t.Errorf("prefilled form %q, want Ann-Marie|am@example.com", got)
	}
	if n := eval[int](t, ctx, `window.__count('started')`); n != 1 {
		t.Errorf("a chat started without autoSubmit (%d started)", n)
	}
}
