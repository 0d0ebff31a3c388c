package agent_test

import (
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestChatRatedReachesEveryAgentOnce: a visitor's rating of an ended chat
// reaches each agent who served it exactly once, one who joined twice
// included, and no silent supervisor.
func TestChatRatedReachesEveryAgentOnce(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: twoAgentsConfig()})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1")
	sue := wiretest.NewHTTP(t, gw.URL).WithToken("sue-secret-1")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	bob.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	pos := map[*wiretest.HTTP]uint64{}
	for _, c := range []*wiretest.HTTP{ann, bob, sue} {
		var lc struct{ Seq uint64 }
		c.Command("AgentService.listChats", nil).Into(t, &lc)
		pos[c] = lc.Seq // the stream's position: polls read on from here
	}
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Vic"}).Into(t, &st)
	v := guest.WithToken(st.Token)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		return gw.Engine().IsParticipant(st.ChatID, "ann") || gw.Engine().IsParticipant(st.ChatID, "bob")
	})
	first, second := ann, bob
	firstID, secondID := "ann", "bob"
	if gw.Engine().IsParticipant(st.ChatID, "bob") {
		first, second, firstID, secondID = bob, ann, "bob", "ann"
	}
	sue.Command("AgentService.joinChat", map[string]any{"chatId": st.ChatID, "silent": true}).Resolved(t)
	first.Command("AgentService.transferChat", map[string]string{"chatId": st.ChatID, "agentId": secondID}).Resolved(t)
	second.Command("AgentService.transferChat", map[string]string{"chatId": st.ChatID, "agentId": firstID}).Resolved(t)
	first.Command("AgentService.endChat", map[string]string{"chatId": st.ChatID}).Resolved(t)
	v.Command("WebChatService.rateChat", map[string]any{"rating": 3, "comment": "slow"}).Resolved(t)

	count := func(c *wiretest.HTTP) int {
		n := 0
		for _, ev := range c.Poll(pos[c], 0).Events {
			if ev.Name == "AgentService.chatRated" {
				n++
			}
		}
		return n
	}
	if n := count(first); n != 1 {
		t.Errorf("%s, in the chat twice, received %d chatRated, want 1", firstID, n)
	}
	if n := count(second); n != 1 {
		t.Errorf("%s received %d chatRated, want 1", secondID, n)
	}
	if n := count(sue); n != 0 {
		t.Errorf("the silent supervisor received %d chatRated, want 0", n)
	}
}
