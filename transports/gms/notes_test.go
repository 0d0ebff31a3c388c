package gms_test

import (
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestInternalNoteNotRefreshed: an agent's internal note never reaches a
// GMS visitor, neither in a refresh from its position nor in the widget's
// restore from 1, while the reply after it does.
func TestInternalNoteNotRefreshed(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	c, first := requestChat(t, gw.URL)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(first.ChatID, "ann") })

	ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": "NOTE: VIP customer", "internal": true}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": "Hello Rita"}).Resolved(t)

	for _, from := range []string{"2", "1"} {
		r := mustOK(t, c.op(t, "refresh", "transcriptPosition", from))
		if strings.Contains(r.raw, "VIP") {
			t.Fatalf("refresh from %s carries the note: %s", from, r.raw)
		}
		if got := strings.Join(describe(r.Messages), "|"); !strings.Contains(got, "Message#") || !strings.HasSuffix(got, ": Hello Rita") {
			t.Fatalf("refresh from %s: %q, want the reply last", from, got)
		}
	}
}
