package purecloud_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// memberList is GET .../members as a client reads it.
type memberList struct {
	Entities []struct {
		ID    string `json:"id"`
		Role  string `json:"role"`
		State string `json:"state"`
	} `json:"entities"`
	Total int `json:"total"`
}

// TestAgentJoinReachesStream plays the widget's order with an agent online
// before the chat is created: create, GET .../members/{me}, open the event
// stream. The chat is routed only once the stream is attached, so the
// agent's member-join frame is on it, before the agent's message and typing.
func TestAgentJoinReachesStream(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)

	g := create(t, gw, "Rita")
	if status, body := do(t, "GET", g.member(""), g.JWT, nil); status != http.StatusOK {
		t.Fatalf("GET own member: HTTP %d %s", status, body)
	}
	// Not routed yet: the agent is not a member before the stream is there.
	var ml memberList
	status, body := do(t, "GET", g.url("/members"), g.JWT, nil)
	decode(t, body, &ml)
	if status != http.StatusOK || ml.Total != 1 || ml.Entities[0].ID != g.Member.ID {
		t.Fatalf("members before the stream: HTTP %d %s", status, body)
	}
	s := dialStream(t, g.Stream)

	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": g.ID, "message": "Hi Rita, Ann here."}).Resolved(t)
	ann.Command("AgentService.sendTyping", map[string]any{"chatId": g.ID, "isTyping": true}).Resolved(t)

	// The frames in order, heartbeats aside.
	var kinds []string
	var annID string
	for len(kinds) < 4 {
		f := s.next(t)
		switch k := f.kind(); k {
		case "WebSocket Heartbeat":
			continue
		case "message":
			if f.EventBody.BodyType == "member-join" {
				annID = f.EventBody.Sender.ID
			}
			kinds = append(kinds, f.EventBody.BodyType)
			if f.EventBody.BodyType == "standard" && (f.EventBody.Sender.ID != annID || f.EventBody.Body != "Hi Rita, Ann here.") {
				t.Fatalf("agent message frame %+v, agent %q", f, annID)
			}
		case "typing-indicator":
			kinds = append(kinds, k)
			if f.EventBody.Sender.ID != annID {
				t.Fatalf("typing frame %+v, agent %q", f, annID)
			}
		default:
			kinds = append(kinds, k)
		}
	}
	if want := []string{"member-join", "member-change", "standard", "typing-indicator"}; len(kinds) != 4 ||
		kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] || kinds[3] != want[3] {
		t.Fatalf("stream frames %v, want %v", kinds, want)
	}
	// The widget then asks who joined.
	var m struct {
		Role string `json:"role"`
	}
	status, body = do(t, "GET", g.url("/members/"+annID), g.JWT, nil)
	decode(t, body, &m)
	if status != http.StatusOK || m.Role != "AGENT" || annID == g.Member.ID {
		t.Fatalf("GET member %s: HTTP %d %s", annID, status, body)
	}
}

// TestRoutedWithoutStream: a guest whose stream never attaches is routed
// anyway once the attach wait is over.
func TestRoutedWithoutStream(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{GuestAttachWait: 50 * time.Millisecond})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	g := create(t, gw, "Rita")
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	var ml memberList
	status, body := do(t, "GET", g.url("/members"), g.JWT, nil)
	decode(t, body, &ml)
	if status != http.StatusOK || ml.Total != 2 || ml.Entities[1].Role != "AGENT" {
		t.Fatalf("members: HTTP %d %s", status, body)
	}
}
