package e2e

import "testing"

// TestAsyncConversationsInBrowser: a page of an asynchronous deployment
// starts a second conversation of its identity, lists both with their unread
// counts, switches back to the first (which resumes like a restore), marks it
// read, and identifies the visitor without leaving the conversation.
func TestAsyncConversationsInBrowser(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	agent := dialAgent(t, gw)
	url := p.add("/conversations.html", testPage(gw.URL, "demo-async", "", "", ""))
	ctx := newBrowser(t)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")

	first := eval[string](t, ctx, startChatJS)
	if got := agent.assigned(); got != first {
		t.Fatalf("agent got chat %s, want %s", got, first)
	}
	eval[int](t, ctx, sendJS("first topic"))
	agent.waitText(first, "first topic")
	agent.say(first, "reply on the first")
	waitJS(t, ctx, `window.__countText('reply on the first') === 1`, "the agent's reply")

	second := eval[string](t, ctx, `window.__settle(window.__rec.command('WebChatService.startChat', {newConversation: true}))
  .then(function (r) { if (!r.ok) throw new Error('startChat: ' + JSON.stringify(r.value)); return r.value.chatId; })`)
	if second == "" || second == first {
		t.Fatalf("new conversation %q (first %q)", second, first)
	}
	type conv struct {
		ChatID    string `json:"chatId"`
		Unread    int    `json:"unread"`
		Current   bool   `json:"current"`
		Initiated bool   `json:"identityInitiated"`
	}
	list := func() map[string]conv {
		t.Helper()
		r := eval[struct {
			OK    bool `json:"ok"`
			Value struct {
				Conversations []conv `json:"conversations"`
			} `json:"value"`
		}](t, ctx, `window.__settle(window.__rec.command('WebChatService.listConversations'))`)
		if !r.OK {
			t.Fatalf("listConversations rejected")
		}
		out := map[string]conv{}
		for _, c := range r.Value.Conversations {
			out[c.ChatID] = c
		}
		return out
	}
	got := list()
	if len(got) != 2 || !got[second].Current || !got[second].Initiated || got[first].Current || got[first].Unread != 1 {
		t.Fatalf("conversations from the second: %+v", got)
	}

	// Back to the first: 'restored' {reason: 'switch'}, then its newest page as history.
	sw := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.switchConversation', {chatId: `+jsString(first)+`}))`)
	if sw["ok"] != true {
		t.Fatalf("switchConversation: %v", sw)
	}
	waitJS(t, ctx, `window.__events.some(function (e) { return e.event === 'WebChatService.restored' && e.data.reason === 'switch' && e.data.chatId === `+jsString(first)+`; })`, "restored after the switch")
	waitJS(t, ctx, `window.__events.some(function (e) { return e.event === 'WebChatService.messageReceived' && e.data.restoring && e.data.messages.some(function (m) { return m.text === 'first topic'; }); })`, "the first conversation's history")
	if r := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.markRead'))`); r["ok"] != true {
		t.Fatalf("markRead: %v", r)
	}
	if got := list(); !got[first].Current || got[first].Unread != 0 || got[second].Current {
		t.Fatalf("conversations after switching back and reading: %+v", got)
	}

	// Logging in with profile fields keeps the conversation; the page writes on in it.
	id := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.identify', {firstname: 'Vera', extra: {plan: 'gold'}}))`)
	if v, _ := id["value"].(map[string]any); id["ok"] != true || v["newChat"] != false || v["chatId"] != first {
		t.Fatalf("identify: %v", id)
	}
	eval[int](t, ctx, sendJS("back on the first"))
	agent.waitText(first, "back on the first")
	if n := eval[int](t, ctx, `window.__countText('reply on the first')`); n != 2 {
		// Once live, once in the history page the switch fetched.
		t.Fatalf("the reply was shown %d times, want 2 (live, then as history)", n)
	}
}
