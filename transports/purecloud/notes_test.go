package purecloud_test

import (
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestInternalNoteNotSent: a guest chat visitor never gets an agent's
// internal note, neither on its event stream nor in GET messages, while the
// reply after it arrives.
func TestInternalNoteNotSent(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	g := create(t, gw, "Rita")
	s := dialStream(t, g.Stream)
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	s.until(t, "message", func(f frame) bool {
		return f.EventBody.BodyType == "member-join" && f.EventBody.Sender.ID != g.Member.ID
	})

	ann.Command("AgentService.sendMessage", map[string]any{"chatId": g.ID, "message": "NOTE: VIP customer", "internal": true}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": g.ID, "message": "Hello Rita"}).Resolved(t)
	for {
		f := s.next(t)
		if strings.Contains(f.EventBody.Body, "VIP") {
			t.Fatalf("the stream carries the note: %+v", f)
		}
		if f.kind() == "message" && f.EventBody.Body == "Hello Rita" {
			break
		}
	}
	status, body := do(t, "GET", g.url("/messages"), g.JWT, nil)
	if status != 200 || strings.Contains(string(body), "VIP") || !strings.Contains(string(body), "Hello Rita") {
		t.Fatalf("GET messages: HTTP %d %s", status, body)
	}
}
