package e2e

import "testing"

// TestAnonymousIdentityInBrowser: on an asynchronous deployment the browser
// keeps its anonymous identity across chats and pages. After the chat it
// follows ends, the next startChat continues as the same identity and, as
// the identity still has an open conversation, resumes that one like a
// restore: 'restored' {reason: 'resumed'}, its history shown once, no
// 'started'. With no conversation open, the next startChat is a new
// conversation of the same identity. Another browser is another identity.
func TestAnonymousIdentityInBrowser(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	agent := dialAgent(t, gw)
	url := p.add("/identity.html", testPage(gw.URL, "demo-async", "", "", ""))
	ctx := newBrowser(t)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")

	type startValue struct {
		ChatID        string `json:"chatId"`
		ParticipantID string `json:"participantId"`
		Resumed       bool   `json:"resumed"`
	}
	start := func(opts string) startValue {
		t.Helper()
		r := eval[struct {
			OK    bool       `json:"ok"`
			Value startValue `json:"value"`
		}](t, ctx, `window.__settle(window.__rec.command('WebChatService.startChat', `+opts+`))`)
		if !r.OK || r.Value.ChatID == "" {
			t.Fatalf("startChat %s: %+v", opts, r)
		}
		return r.Value
	}

	first := start(`{nickname: 'Vera'}`)
	if got := agent.assigned(); got != first.ChatID {
		t.Fatalf("agent got chat %s, want %s", got, first.ChatID)
	}
	eval[int](t, ctx, sendJS("first topic"))
	agent.waitText(first.ChatID, "first topic")
	agent.say(first.ChatID, "reply on the first")
	waitJS(t, ctx, `window.__countText('reply on the first') === 1`, "the agent's reply")

	// A second conversation, which the agent ends: the page's chat state goes, the identity stays.
	second := start(`{newConversation: true}`)
	if got := agent.assigned(); got != second.ChatID {
		t.Fatalf("agent got chat %s, want %s", got, second.ChatID)
	}
	agent.cmd("AgentService.endChat", map[string]string{"chatId": second.ChatID})
	waitJS(t, ctx, `window.__count('ended') === 1`, "ended")
	kept := eval[map[string]bool](t, ctx, `(function () {
  var keys = Object.keys(window.localStorage);
  return {state: keys.some(function (k) { return k.indexOf('.state.') >= 0; }),
          identity: keys.some(function (k) { return k.indexOf('.identity.') >= 0 && window.localStorage.getItem(k); })};
})()`)
	if kept["state"] || !kept["identity"] {
		t.Fatalf("localStorage after the end of a chat: %v, want the identity only", kept)
	}

	// The next page: nothing to restore; startChat resumes the identity's open conversation.
	navigate(t, ctx, url+"?page=2")
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready on the next page")
	again := start(`{nickname: 'Vera'}`)
	if !again.Resumed || again.ChatID != first.ChatID || again.ParticipantID != first.ParticipantID {
		t.Fatalf("startChat with an open conversation: %+v, want %s resumed", again, first.ChatID)
	}
	waitJS(t, ctx, `window.__events.some(function (e) { return e.event === 'WebChatService.restored' && e.data.reason === 'resumed' && e.data.chatId === `+jsString(first.ChatID)+`; })`, "restored {reason: 'resumed'}")
	waitJS(t, ctx, `window.__countText('reply on the first') === 1 && window.__countText('first topic') === 1`, "the resumed conversation's history")
	eval[int](t, ctx, sendJS("back again"))
	agent.waitText(first.ChatID, "back again")
	agent.say(first.ChatID, "welcome back")
	waitJS(t, ctx, `window.__countText('welcome back') === 1`, "a live reply in the resumed conversation")
	if n := eval[int](t, ctx, `window.__countText('reply on the first') + window.__countText('first topic') + window.__count('started')`); n != 2 {
		t.Fatalf("after the resume: history shown more than once or 'started' published (%d, want 2)", n)
	}

	// No conversation open: a new one, of the same identity, which lists all three.
	agent.cmd("AgentService.endChat", map[string]string{"chatId": first.ChatID})
	waitJS(t, ctx, `window.__count('ended') === 1`, "the resumed conversation ended")
	third := start(`{nickname: 'Vera'}`)
	if third.Resumed || third.ChatID == first.ChatID || third.ChatID == second.ChatID || third.ParticipantID != first.ParticipantID {
		t.Fatalf("startChat with no conversation open: %+v (identity %s)", third, first.ParticipantID)
	}
	if n := eval[int](t, ctx, `window.__settle(window.__rec.command('WebChatService.listConversations')).then(function (r) { return r.ok ? r.value.conversations.length : -1; })`); n != 3 {
		t.Fatalf("the kept identity lists %d conversations, want 3", n)
	}

	// Another browser is another anonymous identity.
	other := newBrowser(t)
	navigate(t, other, url)
	waitJS(t, other, `window.__count('ready') === 1`, "ready in another browser")
	r := eval[map[string]any](t, other, `window.__settle(window.__rec.command('WebChatService.startChat', {nickname: 'Max'})).then(function (r) { return r.value; })`)
	if r["participantId"] == first.ParticipantID || r["resumed"] == true {
		t.Fatalf("another browser: %v", r)
	}
}
