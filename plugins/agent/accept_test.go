package agent_test

import (
	"encoding/json"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestAcceptRoutedChat: routing gives a chat to an online agent at any moment
// after the start, so an agent's acceptChat may come after routing already
// gave her the chat. That accept resolves with the chat, also when she is at
// her capacity with it; another agent's accept of it is still refused.
func TestAcceptRoutedChat(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Queues = []config.Queue{{Name: "support"}}
	cfg.Deployments = []config.Deployment{{Key: "shop", Mode: config.ModeLive, Queue: "support", Origins: []string{"*"}}}
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-token-1", MaxChats: 1},
		{ID: "bob", Name: "Bob", Token: "bob-token-1", MaxChats: 5},
	}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-token-1", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-token-1")

	var st struct{ ChatID string }
	wiretest.NewHTTP(t, gw.URL).WithDeployment("shop").
		Command("WebChatService.startChat", map[string]any{"nickname": "Jonny"}).Into(t, &st)
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		return ev.Name == "AgentService.chatAssigned" && json.Valid(ev.Data) && chatIDOf(t, ev.Data) == st.ChatID
	})

	var got struct {
		ChatID string
		State  string
	}
	ann.Command("AgentService.acceptChat", map[string]string{"chatId": st.ChatID}).Into(t, &got)
	if got.ChatID != st.ChatID || got.State != "active" {
		t.Fatalf("Ann accepting the chat routed to her: %+v", got)
	}
	if h, _ := holder(t, gw, st.ChatID); h != "ann" {
		t.Fatalf("chat held by %q after Ann's accept, want ann", h)
	}
	if rej := bob.Command("AgentService.acceptChat", map[string]string{"chatId": st.ChatID}).Rejected(t); rej.Code != "already_assigned" {
		t.Fatalf("Bob accepting Ann's chat: %+v", rej)
	}
}
