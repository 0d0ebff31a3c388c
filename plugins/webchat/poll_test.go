package webchat_test

import (
	"testing"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/wiretest"
)

// TestPoll_Private: poll reads the chat's events after a seq for
// WebChatService itself, and nobody else may call it, whatever the caller.
func TestPoll_Private(t *testing.T) {
	gw, guest, _ := newTestClients(t)
	st := mustStart(t, guest, map[string]any{"nickname": "Rita"})
	visitor := guest.WithToken(st.Token)
	var sent struct {
		Seq uint64 `json:"seq"`
	}
	visitor.Command("WebChatService.sendMessage", map[string]any{"message": "hi"}).Into(t, &sent)

	caller := bus.Caller{Kind: bus.KindVisitor, ID: st.ChatID, Deployment: "demo"}
	const denied = "Access Denied to private command. Only WebChatService is allowed to invoke this command."
	for _, c := range []bus.Caller{caller, {Kind: bus.KindSystem}, {Kind: bus.KindAdmin}, {Kind: bus.KindAgent, ID: "ann", Plugin: "AgentService"}} {
		_, err := gw.Bus().Command(t.Context(), c, "WebChatService.poll", nil)
		if r := bus.AsRejection(err); r.Code != bus.CodeAccessDenied || r.Status != 403 || r.Message != denied {
			t.Errorf("poll as %s (plugin %q): %v, want 403 access_denied %q", c.Kind, c.Plugin, err, denied)
		}
	}

	own := caller
	own.Plugin = "WebChatService"
	res, err := gw.Bus().Command(t.Context(), own, "WebChatService.poll", []byte(`{"after":1}`))
	if err != nil {
		t.Fatalf("poll as WebChatService: %v", err)
	}
	evs, ok := res.([]bus.Event)
	if !ok || len(evs) != 1 || evs[0].Seq != sent.Seq || evs[0].Name != "WebChatService.messageReceived" {
		t.Fatalf("poll after 1: %#v, want the message of seq %d", res, sent.Seq)
	}
	var data struct {
		Messages []wiretest.Message `json:"messages"`
	}
	wiretest.Decode(t, evs[0].Data, &data)
	if len(data.Messages) != 1 || data.Messages[0].Text != "hi" {
		t.Errorf("poll after 1: %s", evs[0].Data)
	}
}
