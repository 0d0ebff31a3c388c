package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server/servertest"
)

const signedSecret = "e2e-signing-secret-of-32-bytes!!"

// signedGateway runs the demo setup plus an async deployment "signed" that
// requires signed identities, accepting the pages' origin.
func signedGateway(t *testing.T, p *pages) *servertest.Gateway {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments = append(cfg.Deployments, config.Deployment{Key: "signed", Mode: config.ModeAsync, Queue: "support",
		Identity: config.IdentitySigned, JWTSecret: signedSecret})
	return servertest.Start(t, servertest.Options{Config: &cfg, Origins: []string{p.URL}})
}

func signJWT(t *testing.T, key, sub string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: sub, Audience: jwt.ClaimStrings{"signed"}, ExpiresAt: jwt.NewNumericDate(exp)}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSignedIdentityInBrowser: a page whose configuration carries the
// visitor's signed identity starts a chat; a forged, expired or missing
// signature is rejected through the bus with the gateway's message, and no
// chat starts. The same customer on a second device resumes the open
// conversation.
func TestSignedIdentityInBrowser(t *testing.T) {
	p := newPages(t)
	gw := signedGateway(t, p)
	ctx := newBrowser(t)
	cases := []struct {
		name, identity, want string
	}{
		{"forged", `{jwt: ` + jsString(signJWT(t, "another-secret-that-is-32-bytes!", "cust-9", time.Now().Add(time.Hour))) + `}`, "The identity signature is not valid."},
		{"expired", `{jwt: ` + jsString(signJWT(t, signedSecret, "cust-9", time.Now().Add(-time.Hour))) + `}`, "The identity signature has expired."},
		{"missing", `null`, "This deployment requires a signed identity: identity.jwt with the visitor's uuid."},
		// Last: it leaves a chat that later pages of this browser would restore.
		{"valid", `{jwt: ` + jsString(signJWT(t, signedSecret, "cust-9", time.Now().Add(time.Hour))) + `, email: 'ida@example.com'}`, ""},
	}
	validChat, validURL := "", ""
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := p.add("/signed-"+tc.name+".html", testPage(gw.URL, "signed", "identity: "+tc.identity, "", ""))
			navigate(t, ctx, url)
			waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
			got := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.startChat', {nickname: 'Ida'}))`)
			if tc.want == "" {
				if got["ok"] != true {
					t.Fatalf("startChat with a valid signature: %v", got)
				}
				v, _ := got["value"].(map[string]any)
				if !strings.HasPrefix(v["participantId"].(string), "u-") || v["identityToken"] != nil {
					t.Fatalf("the chat is not under the company identity: %v", v)
				}
				validChat, validURL = v["chatId"].(string), url
				return
			}
			if got["ok"] != false || got["value"] != tc.want {
				t.Fatalf("startChat = %v, want rejected with %q", got, tc.want)
			}
			if n := eval[int](t, ctx, `window.__count('started')`); n != 0 {
				t.Fatalf("started published after a rejected identity")
			}
		})
	}
	// The same customer on another device: its open conversation is resumed.
	if validChat == "" {
		return
	}
	laptop := newBrowser(t)
	navigate(t, laptop, validURL)
	waitJS(t, laptop, `window.__count('ready') === 1`, "ready on the second device")
	got := eval[map[string]any](t, laptop, `window.__settle(window.__rec.command('WebChatService.startChat', {nickname: 'Ida'}))`)
	if v, _ := got["value"].(map[string]any); got["ok"] != true || v["resumed"] != true || v["chatId"] != validChat {
		t.Fatalf("startChat of cust-9 on a second device = %v, want %s resumed", got, validChat)
	}
	waitJS(t, laptop, `window.__events.some(function (e) { return e.event === 'WebChatService.restored' && e.data.reason === 'resumed'; })`, "restored {reason: 'resumed'}")
}

// TestAsyncRestoreOnAnotherDevice: a visitor's asynchronous conversation is
// taken to another browser (a separate profile: nothing shared but the
// session data), which sees the newest page of history, pages back to the
// start, and goes on with the conversation live.
func TestAsyncRestoreOnAnotherDevice(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	agent := dialAgent(t, gw)
	url := p.add("/async.html", testPage(gw.URL, "demo-async", "transport: {type: 'cxgate', deploymentKey: 'demo-async', maxMessagePageSize: 3}", "", ""))

	phone := newBrowser(t)
	navigate(t, phone, url)
	waitJS(t, phone, `window.__count('ready') === 1`, "ready on the first device")
	chatID := eval[string](t, phone, startChatJS)
	if got := agent.assigned(); got != chatID {
		t.Fatalf("agent got chat %s, want %s", got, chatID)
	}
	for _, text := range []string{"one", "two", "three"} {
		eval[int](t, phone, sendJS(text))
		agent.waitText(chatID, text)
	}
	agent.say(chatID, "four from the agent")
	waitJS(t, phone, `window.__countText('four from the agent') === 1`, "the agent's reply on the first device")
	sessionData := eval[string](t, phone, `window.__settle(window.__rec.command('WebChatService.getSessionData')).then(function (r) { return r.value.sessionData || ''; })`)
	if sessionData == "" {
		t.Fatal("getSessionData gave no sessionData for an async chat")
	}
	// The visitor leaves; the agent answers while nobody is there.
	navigate(t, phone, "about:blank")
	agent.say(chatID, "five while you were away")

	laptop := newBrowser(t)
	navigate(t, laptop, url)
	waitJS(t, laptop, `window.__count('ready') === 1`, "ready on the second device")
	restored := eval[map[string]any](t, laptop, `window.__settle(window.__rec.command('WebChatService.restore', {sessionData: `+jsString(sessionData)+`}))`)
	if restored["ok"] != true {
		t.Fatalf("restore with session data: %v", restored)
	}
	waitJS(t, laptop, `window.__events.some(function (e) { return e.event === 'WebChatService.restored' && e.data.async === true; })`, "restored {async: true}")
	// The newest page (3 messages) arrives as history, the missed reply included, once.
	waitJS(t, laptop, `window.__countText('five while you were away') === 1 && window.__texts().length === 3`, "the newest page of history")
	if got := strings.Join(eval[[]string](t, laptop, `window.__texts()`), "|"); got != "three|four from the agent|five while you were away" {
		t.Fatalf("newest page = %q", got)
	}
	// Older pages on demand, then the documented end.
	fetch := `window.__settle(window.__rec.command('WebChatService.fetchHistory'))`
	for page := 0; ; page++ {
		r := eval[map[string]any](t, laptop, fetch)
		if r["ok"] == false {
			if r["value"] != "No more messages to fetch." {
				t.Fatalf("fetchHistory at the start = %v", r)
			}
			break
		}
		if page == 5 {
			t.Fatal("fetchHistory never reaches the start")
		}
	}
	if got := strings.Join(eval[[]string](t, laptop, `window.__texts()`), "|"); got != "three|four from the agent|five while you were away|one|two" {
		t.Fatalf("messages after paging back = %q", got)
	}
	// The conversation goes on live on the new device.
	eval[int](t, laptop, sendJS("six from the laptop"))
	agent.waitText(chatID, "six from the laptop")
	agent.say(chatID, "seven")
	waitJS(t, laptop, `window.__countText('seven') === 1`, "a live reply on the second device")
	if n := eval[int](t, laptop, `window.__countText('five while you were away')`); n != 1 {
		t.Fatalf("the missed reply arrived %d times", n)
	}
	// Forged session data restores nothing (a third browser: tabs of one
	// browser share the chat).
	other := newBrowser(t)
	navigate(t, other, url)
	waitJS(t, other, `window.__count('ready') === 1`, "ready")
	forged := sessionData[:len(sessionData)-4] + "AAAA"
	r := eval[map[string]any](t, other, `window.__settle(window.__rec.command('WebChatService.restore', {sessionData: `+jsString(forged)+`}))`)
	if r["ok"] != false || r["value"] != "No chat session found to restore." {
		t.Fatalf("restore with forged session data = %v", r)
	}
}

// TestAnonymousDeploymentRefusesUUIDInBrowser: a page on an anonymous
// deployment whose configuration names the visitor by an unsigned uuid gets
// the gateway's rejection through the bus and no chat; the same page with
// profile fields only starts one.
func TestAnonymousDeploymentRefusesUUIDInBrowser(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	ctx := newBrowser(t)
	for _, tc := range []struct{ name, identity, want string }{
		{"uuid", `{uuid: 'customer-59606', email: 'x@example.com'}`, "This deployment keeps visitors anonymous: it takes no identity.uuid or identity.jwt."},
		{"profile", `{nickname: 'Ida', email: 'ida@example.com'}`, ""},
	} {
		url := p.add("/anonymous-"+tc.name+".html", testPage(gw.URL, "demo-async", "identity: "+tc.identity, "", ""))
		navigate(t, ctx, url)
		waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
		got := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.startChat', {nickname: 'Ida'}))`)
		if tc.want == "" {
			if got["ok"] != true {
				t.Fatalf("%s: startChat = %v, want started", tc.name, got)
			}
			continue
		}
		if got["ok"] != false || got["value"] != tc.want {
			t.Fatalf("%s: startChat = %v, want rejected with %q", tc.name, got, tc.want)
		}
		if n := eval[int](t, ctx, `window.__count('started')`); n != 0 {
			t.Fatalf("%s: started published after a refused identity", tc.name)
		}
	}
}
