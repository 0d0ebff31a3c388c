package agent_test

import (
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestAgentEvents: on their sockets, agents hear of a chat's assignment,
// the visitor's messages, typing and context changes, a transfer (both the
// agent who hands over and the one who takes over), and its resolution.
func TestAgentEvents(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: twoAgentsConfig()})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-secret", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Ida", "userData": map[string]any{"page": "/a"}}).Into(t, &st)
	v := guest.WithToken(st.Token)

	// expect waits for the agent's event name about this chat and decodes it.
	expect := func(s *wiretest.Socket, name string, into any) {
		t.Helper()
		evs := s.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == name })
		ev := evs[len(evs)-1]
		if id := chatIDOf(t, ev.Data); id != st.ChatID {
			t.Fatalf("%s about chat %q, want %q", name, id, st.ChatID)
		}
		if into != nil {
			wiretest.Decode(t, ev.Data, into)
		}
	}
	var assigned struct {
		Visitor  struct{ Nickname string }
		UserData map[string]any
	}
	expect(ann, "AgentService.chatAssigned", &assigned)
	if assigned.Visitor.Nickname != "Ida" || assigned.UserData["page"] != "/a" {
		t.Fatalf("chatAssigned %+v", assigned)
	}

	v.Command("WebChatService.sendTyping", map[string]any{"message": "I want"}).Resolved(t)
	var typing struct{ IsTyping bool }
	expect(ann, "AgentService.visitorTyping", &typing)
	if !typing.IsTyping {
		t.Fatal("visitorTyping without isTyping")
	}
	v.Command("WebChatService.sendMessage", map[string]string{"message": "I want a refund"}).Resolved(t)
	var msg struct{ Messages []wiretest.Message }
	expect(ann, "AgentService.messageReceived", &msg)
	if len(msg.Messages) != 1 || msg.Messages[0].Text != "I want a refund" || msg.Messages[0].From.Type != "Client" {
		t.Fatalf("messageReceived %+v", msg)
	}
	v.Command("WebChatService.updateUserData", map[string]any{"page": "/b"}).Resolved(t)
	var ctx struct{ UserData map[string]any }
	expect(ann, "AgentService.contextUpdated", &ctx)
	if ctx.UserData["page"] != "/b" {
		t.Fatalf("contextUpdated %+v", ctx)
	}

	bob := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	bob.MustAuth("bob-secret-1", 0)
	bob.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	ann.Command("AgentService.transferChat", map[string]string{"chatId": st.ChatID, "agentId": "bob"}).Resolved(t)
	var tr struct {
		Transfer struct{ From, Agent string }
	}
	expect(ann, "AgentService.chatTransferred", &tr)
	if tr.Transfer.From != "ann" || tr.Transfer.Agent != "bob" {
		t.Fatalf("chatTransferred %+v", tr)
	}
	expect(bob, "AgentService.chatAssigned", nil)

	bob.Command("AgentService.resolveChat", map[string]string{"chatId": st.ChatID, "disposition": "refunded"}).Resolved(t)
	var ended struct{ ChatID, By, Disposition string }
	expect(bob, "AgentService.chatEnded", &ended)
	if ended.ChatID != st.ChatID || ended.By != "agent" || ended.Disposition != "refunded" {
		t.Fatalf("chatEnded %+v", ended)
	}
}
