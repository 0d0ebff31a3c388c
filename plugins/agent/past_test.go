package agent_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

type pastList struct {
	Chats []struct {
		ChatID, Match, EndedBy string
		EndedAt                int64
		Visitor                struct{ Nickname, Email string }
	}
	Next string
}

// TestPastChats: an agent lists the chats it ended or saw end, newest first,
// in pages; searches them by visitor and by message text; does not see
// another agent's past chats or its own open ones; a cursor it was not
// given is refused.
func TestPastChats(t *testing.T) {
	// A clock that ticks on every reading: the chats end at distinct
	// milliseconds, so the newest-first order is the order they ended in
	// (ends within one millisecond are ordered by chat id).
	var ticks atomic.Int64
	base := time.Now()
	now := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	gw := servertest.Start(t, servertest.Options{Config: twoAgentsConfig(), Now: now})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret")
	bob := wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1")
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	start := func(who map[string]any, say string) string {
		var st struct{ ChatID, Token string }
		guest.Command("WebChatService.startChat", who).Into(t, &st)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st.ChatID, "ann") })
		if say != "" {
			guest.WithToken(st.Token).Command("WebChatService.sendMessage", map[string]string{"message": say}).Resolved(t)
		}
		return st.ChatID
	}
	pia := start(map[string]any{"nickname": "Pia", "email": "pia@example.com"}, "Hello")
	pia2 := start(map[string]any{"nickname": "Pia"}, "My PARCEL is lost")
	quinn := start(map[string]any{"nickname": "Quinn"}, "Hi")
	open := start(map[string]any{"nickname": "Still here"}, "parcel too")
	for _, id := range []string{pia, pia2, quinn} {
		ann.Command("AgentService.endChat", map[string]string{"chatId": id}).Resolved(t)
	}

	var all pastList
	ann.Command("AgentService.listPastChats", map[string]any{"limit": 2}).Into(t, &all)
	if len(all.Chats) != 2 || all.Chats[0].ChatID != quinn || all.Chats[1].ChatID != pia2 || all.Next == "" {
		t.Fatalf("first page %+v", all)
	}
	if all.Chats[0].EndedBy != "agent" || all.Chats[0].EndedAt == 0 {
		t.Fatalf("past chat without its end %+v", all.Chats[0])
	}
	var rest pastList
	ann.Command("AgentService.listPastChats", map[string]any{"limit": 2, "before": all.Next}).Into(t, &rest)
	if len(rest.Chats) != 1 || rest.Chats[0].ChatID != pia || rest.Next != "" {
		t.Fatalf("second page %+v", rest)
	}

	var found pastList
	ann.Command("AgentService.listPastChats", map[string]any{"query": "parcel"}).Into(t, &found)
	if len(found.Chats) != 1 || found.Chats[0].ChatID != pia2 || found.Chats[0].Match != "My PARCEL is lost" {
		t.Fatalf("search by text (the open chat %s must not show) %+v", open, found)
	}
	ann.Command("AgentService.listPastChats", map[string]any{"query": "PIA@EXAMPLE"}).Into(t, &found)
	if len(found.Chats) != 1 || found.Chats[0].ChatID != pia {
		t.Fatalf("search by email %+v", found)
	}
	ann.Command("AgentService.listPastChats", map[string]any{"from": gw.Engine().Now().Add(1e12).UnixMilli()}).Into(t, &found)
	if len(found.Chats) != 0 {
		t.Fatalf("chats started after the future %+v", found)
	}

	var bobs pastList
	bob.Command("AgentService.listPastChats", nil).Into(t, &bobs)
	if len(bobs.Chats) != 0 {
		t.Fatalf("bob sees ann's past chats %+v", bobs)
	}
	if e := ann.Command("AgentService.listPastChats", map[string]any{"before": "nonsense"}).Rejected(t); e.Code != "invalid_request" {
		t.Fatalf("bad cursor rejected with %+v", e)
	}
}
