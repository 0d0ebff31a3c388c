package agent_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestGetHistory: an agent pages back through a chat, newest page first,
// and the pages put together are the transcript; an agent who was never in
// the chat may not read it.
func TestGetHistory(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Config: twoAgentsConfig()})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Hal"}).Into(t, &st)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st.ChatID, "ann") })
	v := guest.WithToken(st.Token)
	for i := range 7 {
		v.Command("WebChatService.sendMessage", map[string]string{"message": fmt.Sprint("q", i)}).Resolved(t)
		ann.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": fmt.Sprint("a", i)}).Resolved(t)
	}

	type page struct {
		ChatID   string             `json:"chatId"`
		Messages []wiretest.Message `json:"messages"`
		Oldest   uint64             `json:"oldest"`
		More     bool               `json:"more"`
	}
	var all []wiretest.Message
	var before uint64
	for n := 0; ; n++ {
		var p page
		ann.Command("AgentService.getHistory", map[string]any{"chatId": st.ChatID, "before": before, "limit": 3}).Into(t, &p)
		if p.ChatID != st.ChatID || len(p.Messages) == 0 || len(p.Messages) > 3 || p.Oldest != p.Messages[0].Index {
			t.Fatalf("page %d: %+v", n, p)
		}
		if n == 0 && p.Messages[len(p.Messages)-1].Text != "a6" {
			t.Fatalf("the first page does not end with the newest message: %+v", p.Messages)
		}
		all = append(slices.Clone(p.Messages), all...)
		if !p.More {
			break
		}
		if n > 20 {
			t.Fatal("getHistory does not end")
		}
		before = p.Oldest
	}
	var tr struct{ Messages []wiretest.Message }
	ann.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Into(t, &tr)
	idx := func(ms []wiretest.Message) []uint64 {
		var out []uint64
		for _, m := range ms {
			out = append(out, m.Index)
		}
		return out
	}
	if !slices.Equal(idx(all), idx(tr.Messages)) {
		t.Fatalf("the pages hold %v, the transcript %v", idx(all), idx(tr.Messages))
	}

	if rej := bob.Command("AgentService.getHistory", map[string]any{"chatId": st.ChatID}).Rejected(t); rej.Code != "not_participant" {
		t.Fatalf("an agent outside the chat reading its history: %+v", rej)
	}
	if rej := ann.Command("AgentService.getHistory", map[string]any{"chatId": "nope"}).Rejected(t); rej.Code != "chat_not_found" {
		t.Fatalf("history of an unknown chat: %+v", rej)
	}
	if rej := ann.Command("AgentService.getHistory", nil).Rejected(t); rej.Code != "invalid_request" {
		t.Fatalf("history without a chatId: %+v", rej)
	}
}
