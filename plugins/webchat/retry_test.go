package webchat_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestStartRetryToken: a requestId is a retry key, not a credential. The
// token of a start with one cannot be computed from it (it is derived under
// the store's secret); a retry within chat.StartRetryWindow, across a
// restart too, gets the first answer and makes no second chat; a later
// retry names the chat, existing, without a token, while the token first
// given keeps working.
func TestStartRetryToken(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	const requestID = "lost-response-0123456789"
	opts := map[string]any{"nickname": "Rita", "requestId": requestID}
	var first started

	t.Run("Start", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Now: clk.Now})
		guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
		first = mustStart(t, guest, opts)
		// What anyone who saw the requestId could compute without the
		// server's secret (the derivation the token must not follow).
		m := hmac.New(sha256.New, []byte(requestID))
		m.Write([]byte("cxgate visitor token\x00demo"))
		if offline := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); first.Token == offline {
			t.Fatalf("the token is computable from the requestId alone")
		}
		clk.Add(time.Minute)
		again := mustStart(t, guest, opts)
		if again.ChatID != first.ChatID || again.Token != first.Token {
			t.Fatalf("a retry within the window: %+v, want %+v", again, first)
		}
	})

	t.Run("AfterRestart", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Now: clk.Now})
		guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
		clk.Add(2 * time.Minute)
		before := countChats(t, gw)
		again := mustStart(t, guest, opts)
		if again.ChatID != first.ChatID || again.Token != first.Token {
			t.Fatalf("a retry after a restart, within the window: %+v, want %+v", again, first)
		}
		if msgs := transcript(t, guest.WithToken(again.Token)); len(msgs) != 1 {
			t.Fatalf("the retried token reads %+v", msgs)
		}

		// Past the window: the chat, named, without a token.
		clk.Add(engine.StartRetryWindow)
		raw := guest.Command("WebChatService.startChat", opts).Resolved(t)
		var late map[string]json.RawMessage
		wiretest.Decode(t, raw, &late)
		if _, ok := late["token"]; ok {
			t.Fatalf("a retry past the window got a token: %s", raw)
		}
		if string(late["chatId"]) != `"`+first.ChatID+`"` || string(late["existing"]) != "true" {
			t.Fatalf("a retry past the window: %s, want chat %s existing", raw, first.ChatID)
		}
		if n := countChats(t, gw); n != before {
			t.Fatalf("retries made %d chats", n-before)
		}
		guest.WithToken(first.Token).Command("WebChatService.sendMessage", map[string]string{"message": "still here"}).Resolved(t)
	})
}
