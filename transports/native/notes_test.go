package native_test

import (
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
)

// TestInternalNote_NeverToVisitor: an agent's internal note reaches no
// native visitor: not a socket subscribed before it, not a long-poll
// waiting for it, not a socket or poll resuming from the start, not the
// transcript; the reply after it reaches them all.
func TestInternalNote_NeverToVisitor(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita")
	live := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
	live.Auth(c.Token, 0).Resolved(t)
	start := visitorSays(t, c, "hello?")
	waiting := c.visitor.PollAsync(start, wiretest.Timeout)

	var note struct{ Seq uint64 }
	g.ann.Command("AgentService.sendMessage", map[string]any{"chatId": c.ID, "message": "NOTE: VIP customer", "internal": true}).Into(t, &note)
	reply := g.annSays(t, c.ID, "Hello Rita")
	if note.Seq == 0 || reply != note.Seq+1 {
		t.Fatalf("note seq %d, reply seq %d", note.Seq, reply)
	}

	leaks := func(where string, evs []wiretest.Event) {
		t.Helper()
		got := false
		for _, ev := range evs {
			if strings.Contains(string(ev.Data), "VIP") || strings.Contains(string(ev.Data), `"internal"`) || ev.Seq == note.Seq {
				t.Errorf("%s carries the note: %s#%d %s", where, ev.Name, ev.Seq, ev.Data)
			}
			got = got || strings.Contains(string(ev.Data), "Hello Rita")
		}
		if !got {
			t.Errorf("%s lacks the reply: %v", where, evs)
		}
	}
	leaks("the live socket", live.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return strings.Contains(string(ev.Data), "Hello Rita") }))
	// The long-poll woke for the note's commit or the reply's: poll on
	// until the reply.
	first := <-waiting
	evs := first.Events
	for after := start; !strings.Contains(string(first.Body), "Hello Rita"); {
		if len(first.Events) > 0 {
			after = first.Events[len(first.Events)-1].Seq
		}
		first = c.visitor.Poll(after, wiretest.Timeout)
		evs = append(evs, first.Events...)
	}
	leaks("the long-poll", evs)
	leaks("a poll from 0", c.visitor.Poll(0, 0).Events)
	resumed := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
	resumed.Auth(c.Token, 0).Resolved(t)
	leaks("a socket resuming from 0", resumed.UntilSeq(reply, wiretest.Timeout))

	raw := c.visitor.Command("WebChatService.getTranscript", nil).Resolved(t)
	if strings.Contains(string(raw), "VIP") || !strings.Contains(string(raw), "Hello Rita") {
		t.Errorf("the transcript: %s", raw)
	}
}
