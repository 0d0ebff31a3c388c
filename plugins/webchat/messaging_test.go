package webchat_test

import (
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestOpenConversation: the messaging trigger's question. An identity the
// browser keeps gets its open asynchronous conversation back; no identity, a
// forged one and another deployment's get not_found; and asking never starts
// a chat.
func TestOpenConversation(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")

	notFound := func(h *wiretest.HTTP, opts any) {
		t.Helper()
		before := countChats(t, gw)
		if e := h.Command("WebChatService.openConversation", opts).Rejected(t); e.Code != "not_found" {
			t.Errorf("openConversation %v: %+v, want not_found", opts, e)
		}
		if n := countChats(t, gw); n != before {
			t.Errorf("openConversation %v started a chat (%d → %d open)", opts, before, n)
		}
	}
	notFound(guest, nil)
	notFound(guest, map[string]any{"identityToken": "forged"})

	var first struct {
		started
		IdentityToken string `json:"identityToken"`
	}
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Mia"}).Into(t, &first)
	if first.IdentityToken == "" {
		t.Fatal("startChat on an async deployment gave no identity token")
	}
	var got struct {
		started
		Resumed bool `json:"resumed"`
	}
	guest.Command("WebChatService.openConversation", map[string]any{"identityToken": first.IdentityToken}).Into(t, &got)
	if got.ChatID != first.ChatID || !got.Resumed || got.Token == "" || got.Mode != "async" {
		t.Fatalf("openConversation = %+v, want chat %s resumed", got, first.ChatID)
	}
	// The token it gives opens the conversation.
	guest.WithToken(got.Token).Command("WebChatService.sendMessage", map[string]any{"message": "back again"}).Resolved(t)

	// Another deployment's visitor with that token: nothing.
	notFound(wiretest.NewHTTP(t, gw.URL).WithDeployment("demo"), map[string]any{"identityToken": first.IdentityToken})
}
