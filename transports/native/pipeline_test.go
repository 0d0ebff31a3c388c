package native_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestSocket_PipelinedCommandsKeepOrder: an agent sends many messages to one
// chat without waiting for replies; every reply comes back under its id and
// the stored order is the order sent.
func TestSocket_PipelinedCommandsKeepOrder(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	agent := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	agent.MustAuth(gw.AgentToken, 0)
	agent.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", nil).Into(t, &st)
	agent.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })

	const n = 100
	for i := range n {
		agent.MustWrite(fmt.Appendf(nil, `{"id":%d,"command":"AgentService.sendMessage","options":{"chatId":%q,"message":"m%d"}}`, 1000+i, st.ChatID, i))
	}
	var last uint64
	for i := range n {
		r := agent.Reply(json.RawMessage(fmt.Sprint(1000+i)), wiretest.Timeout)
		var res struct{ Seq uint64 }
		r.Into(t, &res)
		if res.Seq <= last {
			t.Fatalf("message %d stored at seq %d, not after %d: pipelined commands reordered", i, res.Seq, last)
		}
		last = res.Seq
	}
	msgs := []string{}
	visitor := guest.WithToken(st.Token)
	for after := uint64(0); after < last; {
		evs := visitor.Poll(after, 0).Events // one page of the feed per poll
		if len(evs) == 0 {
			t.Fatalf("poll after %d returned nothing; last seq is %d", after, last)
		}
		for _, ev := range evs {
			after = max(after, ev.Seq)
			if ev.Name == "WebChatService.messageReceived" {
				for _, m := range ev.Messages(t) {
					if m.Type == "Message" {
						msgs = append(msgs, m.Text)
					}
				}
			}
		}
	}
	if len(msgs) != n || msgs[0] != "m0" || msgs[n-1] != fmt.Sprintf("m%d", n-1) {
		t.Fatalf("visitor saw %d messages, first %q last %q", len(msgs), msgs[0], msgs[len(msgs)-1])
	}
	for i, m := range msgs {
		if m != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d is %q", i, m)
		}
	}
}
