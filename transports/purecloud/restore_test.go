package purecloud_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestRestore_LongChat is the widget's restore after a page load, over a
// chat of more than 100 messages: GET .../messages?sortOrder=descending&
// maxResults=100, then older pages through "next" (dataURL + next), then
// GET .../members. Every message comes once, newest first.
func TestRestore_LongChat(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{NoSync: true})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	g := create(t, gw, "Rita")
	s := dialStream(t, g.Stream)
	s.until(t, "message", func(f frame) bool { return f.EventBody.BodyType == "member-join" })
	for i := range 130 {
		ann.Command("AgentService.sendMessage", map[string]any{"chatId": g.ID, "message": "line " + strconv.Itoa(i)}).Resolved(t)
	}
	all := g.messages("") // ascending, the stored order
	for all.Next != "" {
		l := g.messages(strings.TrimPrefix(all.Next, api+"/conversations/"+g.ID+"/messages"))
		all.Entities, all.Next = append(all.Entities, l.Entities...), l.Next
	}
	if len(all.Entities) != 132 { // two joins and 130 messages
		t.Fatalf("%d messages stored, want 132", len(all.Entities))
	}

	// A page load: a new page reads as the widget does.
	first := g.messages("?sortOrder=descending&maxResults=100")
	if len(first.Entities) != 100 || first.Entities[0].Body != "line 129" || first.Next == "" {
		t.Fatalf("newest page: %d entities, first %+v, next %q", len(first.Entities), first.Entities[0], first.Next)
	}
	got := first.Entities
	for next := first.Next; next != ""; {
		status, body := do(t, "GET", gw.URL+next, g.JWT, nil) // dataURL + next
		var l entityList
		decode(t, body, &l)
		if status != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d %s", next, status, body)
		}
		got, next = append(got, l.Entities...), l.Next
	}
	if len(got) != len(all.Entities) {
		t.Fatalf("restore read %d messages, want %d", len(got), len(all.Entities))
	}
	for i, e := range got {
		if want := all.Entities[len(all.Entities)-1-i]; e.ID != want.ID || e.Body != want.Body {
			t.Fatalf("restored message %d is %+v, want %+v", i, e, want)
		}
	}
	var ml memberList
	status, body := do(t, "GET", g.url("/members"), g.JWT, nil)
	decode(t, body, &ml)
	if status != http.StatusOK || ml.Total != 2 || ml.Entities[0].ID != g.Member.ID || ml.Entities[1].Role != "AGENT" ||
		ml.Entities[1].State != "CONNECTED" {
		t.Fatalf("members: HTTP %d %s", status, body)
	}
}
