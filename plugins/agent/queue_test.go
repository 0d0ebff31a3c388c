package agent_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestQueuePushed: a chat that starts waiting is pushed to the agents who
// could take it (and not to one who lacks the queue's skill), with its wire
// and the visitor's identity; taking it pushes chatDequeued to the same
// agents. A chat started over GMS says so.
func TestQueuePushed(t *testing.T) {
	cfg := twoAgentsConfig()
	cfg.Queues[0].Skills = []string{"billing"}
	cfg.Agents[0].Skills = []string{"billing"} // ann
	cfg.Agents[2].Skills = []string{"billing"} // sue
	gw := servertest.Start(t, servertest.Options{Config: cfg})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-secret", 0)
	bob := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	bob.MustAuth("bob-secret-1", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "away"}).Resolved(t)
	var bobStart struct{ Seq uint64 }
	bob.Command("AgentService.listChats", nil).Into(t, &bobStart)

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Pia", "email": "pia@example.com"}).Into(t, &st)

	evs := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatQueued" })
	var q struct {
		ChatID, Wire, Mode, IdentityID string
		Visitor                        struct{ Nickname, Email string }
	}
	wiretest.Decode(t, evs[len(evs)-1].Data, &q)
	if q.ChatID != st.ChatID || q.Wire != "native" || q.Mode != "live" || q.IdentityID == "" ||
		q.Visitor.Nickname != "Pia" || q.Visitor.Email != "pia@example.com" {
		t.Fatalf("chatQueued %+v", q)
	}

	ann.Command("AgentService.acceptChat", map[string]string{"chatId": st.ChatID}).Resolved(t)
	evs = ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatDequeued" })
	var dq struct{ ChatID, State string }
	wiretest.Decode(t, evs[len(evs)-1].Data, &dq)
	if dq.ChatID != st.ChatID || dq.State != "active" {
		t.Fatalf("chatDequeued %+v", dq)
	}

	// A second chat, over GMS: its wire is kept with the chat.
	res, err := http.Post(gw.URL+"/genesys/2/chat/demo", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"nickname": {"Pia"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	evs = ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatQueued" })
	wiretest.Decode(t, evs[len(evs)-1].Data, &q)
	if q.ChatID == st.ChatID || q.Wire != "gms" {
		t.Fatalf("chatQueued of the GMS chat %+v", q)
	}
	var list struct {
		Queued []struct{ ChatID, Wire string }
	}
	ann.Command("AgentService.listChats", nil).Into(t, &list)
	if len(list.Queued) != 1 || list.Queued[0].Wire != "gms" {
		t.Fatalf("listChats queued %+v", list.Queued)
	}

	// bob lacks the skill: his stream got nothing. Observers run in commit
	// order, so once ann hears of a later commit, all earlier announcements
	// were made.
	ann.Command("AgentService.endChat", map[string]string{"chatId": st.ChatID}).Resolved(t)
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatEnded" })
	var bobList struct{ Seq uint64 }
	bob.Command("AgentService.listChats", nil).Into(t, &bobList)
	if bobList.Seq != bobStart.Seq {
		t.Fatalf("bob, who can take neither chat, was sent events: stream at %d, was %d", bobList.Seq, bobStart.Seq)
	}
}
