package gms_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// page replays what the legacy WebChatService does with refresh answers
// (docs/wire.md, "GMS Chat API v2"): every message is handled at most once
// per index and page, all of it or nothing; the transcript position starts at
// 1 and, after a message with index >= position, becomes index + 1.
type page struct {
	pos      int64
	seen     map[int64]bool
	typing   []bool  // agent typing changes handled, in order
	messages []int64 // indexes of the transcript entries handled, in order
}

func newPage() *page { return &page{pos: 1, seen: map[int64]bool{}} }

func (p *page) apply(e envelope) {
	for _, m := range e.Messages {
		if p.seen[m.Index] {
			continue
		}
		p.seen[m.Index] = true
		if m.Index >= 0 && m.Index >= p.pos {
			p.pos = m.Index + 1
		}
		switch m.Type {
		case "TypingStarted", "TypingStopped":
			if m.From.Type == "Agent" {
				p.typing = append(p.typing, m.Type == "TypingStarted")
			}
		default:
			p.messages = append(p.messages, m.Index)
		}
	}
}

func (p *page) agentTyping() (typing, known bool) {
	if len(p.typing) == 0 {
		return false, false
	}
	return p.typing[len(p.typing)-1], true
}

// refresh polls as the widget does: from the page's position.
func (p *page) refresh(t *testing.T, c gmsChat) envelope {
	t.Helper()
	e := mustOK(t, c.op(t, "refresh", "transcriptPosition", strconv.FormatInt(p.pos, 10), "message", ""))
	p.apply(e)
	return e
}

// TestTyping_IssueReproduction is the issue's curl reproduction: typing on,
// refresh from 3, typing off, refresh from 3. Each typing change comes back
// with an index of its own that does not move the transcript position.
func TestTyping_IssueReproduction(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	c, first := requestChat(t, gw.URL)
	sendTyping := func(on bool) {
		ann.Command("AgentService.sendTyping", map[string]any{"chatId": first.ChatID, "isTyping": on}).Resolved(t)
	}
	// Ann has the chat once her join shows (in the issue, by the time one
	// types the next command).
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		return len(mustOK(t, c.op(t, "refresh", "transcriptPosition", "2")).Messages) > 0
	})
	sendTyping(true)
	on := mustOK(t, c.op(t, "refresh", "transcriptPosition", "3"))
	sendTyping(false)
	off := mustOK(t, c.op(t, "refresh", "transcriptPosition", "3"))
	typingOf := func(e envelope, typ string) gmsMsg {
		t.Helper()
		for _, m := range e.Messages {
			if m.Type == typ {
				return m
			}
		}
		t.Fatalf("no %s in %s", typ, e.raw)
		return gmsMsg{}
	}
	a, b := typingOf(on, "TypingStarted"), typingOf(off, "TypingStopped")
	if a.Index == b.Index || a.Index >= 0 || b.Index >= 0 || a.From.Type != "Agent" {
		t.Fatalf("typing indexes %d then %d: each change needs an index of its own, below every position\n%s\n%s",
			a.Index, b.Index, on.raw, off.raw)
	}
}

// TestTyping_WidgetRules replays the widget's two rules over the refreshes
// of a chat: typing on, typing off, a message, typing on and off again, a
// restore from transcriptPosition=1 (a page load), more typing and a message
// after it. Every typing change is handled, and each page handles every
// stored transcript entry exactly once.
func TestTyping_WidgetRules(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	c, first := requestChat(t, gw.URL)
	p := newPage()
	p.apply(first)
	// Refresh until the agent's join shows.
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { p.refresh(t, c); return len(p.messages) >= 2 })

	typing := func(p *page, on bool) {
		t.Helper()
		ann.Command("AgentService.sendTyping", map[string]any{"chatId": first.ChatID, "isTyping": on}).Resolved(t)
		n := len(p.typing)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool {
			p.refresh(t, c)
			return len(p.typing) > n
		})
		if got, _ := p.agentTyping(); got != on || len(p.typing) != n+1 {
			t.Fatalf("after typing %v the page handled %v", on, p.typing)
		}
	}
	message := func(p *page, text string) {
		t.Helper()
		ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": text}).Resolved(t)
		n := len(p.messages)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { p.refresh(t, c); return len(p.messages) > n })
	}
	// stored lists the transcript's indexes as the whole transcript gives them.
	stored := func() []int64 {
		t.Helper()
		var out []int64
		for _, m := range mustOK(t, c.op(t, "refresh", "transcriptPosition", "1")).Messages {
			if m.Type != "TypingStarted" && m.Type != "TypingStopped" {
				out = append(out, m.Index)
			}
		}
		return out
	}

	typing(p, true)
	typing(p, false)
	message(p, "Let me check.")
	typing(p, true)
	typing(p, false)
	if want, got := stored(), p.messages; !slices.Equal(want, got) {
		t.Fatalf("the page handled transcript entries %v, want each of %v once", got, want)
	}
	if want := []bool{true, false, true, false}; !slices.Equal(p.typing, want) {
		t.Fatalf("typing changes handled %v, want %v", p.typing, want)
	}

	// A page load restores from 1 and expects the whole transcript.
	r := newPage()
	restored := r.refresh(t, c)
	if restored.ChatEnded || !slices.Equal(r.messages, stored()) {
		t.Fatalf("restore from 1 handled %v, want %v: %s", r.messages, stored(), restored.raw)
	}
	typing(r, true)
	message(r, "Found it.")
	typing(r, true)
	typing(r, false)
	if want, got := stored(), r.messages; !slices.Equal(want, got) {
		t.Fatalf("after the restore the page handled %v, want each of %v once", got, want)
	}
	if want := []bool{true, true, false}; !slices.Equal(r.typing, want) {
		t.Fatalf("typing changes handled after the restore %v, want %v", r.typing, want)
	}
	if fmt.Sprint(r.pos) != fmt.Sprint(stored()[len(stored())-1]+1) {
		t.Fatalf("position %d after the restore, want the one after the last entry %v", r.pos, stored())
	}
}

// TestRestore_LongChat is the widget's restore after a page load over a
// chat longer than one answer (100 messages): refresh from
// transcriptPosition=1, then polls from its position. Every stored message
// is handled once, in order, the first answer not claiming the chat ended.
func TestRestore_LongChat(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{NoSync: true})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	c, first := requestChat(t, gw.URL)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		return len(mustOK(t, c.op(t, "refresh", "transcriptPosition", "2")).Messages) > 0
	})
	for i := range 130 {
		ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": "line " + strconv.Itoa(i)}).Resolved(t)
	}
	ann.Command("AgentService.sendTyping", map[string]any{"chatId": first.ChatID, "isTyping": true}).Resolved(t)

	p := newPage()
	restored := p.refresh(t, c)
	if restored.ChatEnded || len(restored.Messages) == 0 || restored.Messages[0].Index != 1 {
		t.Fatalf("restore from 1: %.300s", restored.raw)
	}
	for range 10 {
		if len(p.refresh(t, c).Messages) == 0 {
			break
		}
	}
	want := make([]int64, 0, 132)
	for i := int64(1); i <= 132; i++ {
		want = append(want, i)
	}
	if !slices.Equal(p.messages, want) {
		t.Fatalf("restored page handled %d entries %v, want 1..132 once each", len(p.messages), p.messages)
	}
	if got, _ := p.agentTyping(); !got {
		t.Fatalf("the agent's typing after the restore was not shown: %v", p.typing)
	}
}
