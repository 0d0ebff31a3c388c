package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestCannedResponsesThroughAdmin: a deployment's canned responses are set
// through the admin API, read back, validated as a whole (a bad list changes
// nothing) and reach agents at once.
func TestCannedResponsesThroughAdmin(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	st := startChat(t, gw, "demo")
	waitChat(t, gw, st.ChatID, "active", "ann")
	list := func() string {
		t.Helper()
		return string(ann.Command("AgentService.listCannedResponses", object{"chatId": st.ChatID}).Resolved(t))
	}
	if got := list(); !strings.Contains(got, `"cannedResponses":[]`) {
		t.Fatalf("before: %s", got)
	}

	greet := object{"shortcut": "greet", "text": "Hello, how can I help?"}
	got := rest(t, admin, "PUT", "/v1/admin/deployments/demo", object{"queue": "support",
		"cannedResponses": []object{greet, {"shortcut": "bye", "text": "Thanks, bye!"}}}).Resolved(t)
	if !strings.Contains(string(got), `"cannedResponses":[{"shortcut":"greet","text":"Hello, how can I help?"},{"shortcut":"bye","text":"Thanks, bye!"}]`) {
		t.Fatalf("PUT answered %s", got)
	}
	if got := rest(t, admin, "GET", "/v1/admin/deployments/demo", nil).Resolved(t); !strings.Contains(string(got), `"shortcut":"bye"`) {
		t.Fatalf("GET answered %s", got)
	}
	if got := list(); !strings.Contains(got, `{"shortcut":"greet","text":"Hello, how can I help?"},{"shortcut":"bye","text":"Thanks, bye!"}`) {
		t.Fatalf("the agent's list after the change: %s", got)
	}

	for _, tc := range []struct {
		list []object
		msg  string
	}{
		{[]object{greet, {"shortcut": "GREET", "text": "x"}}, `deployments[0].cannedResponses[1].shortcut: "GREET" is already used by cannedResponses[0]`},
		{[]object{{"shortcut": "a b", "text": "x"}}, `deployments[0].cannedResponses[0].shortcut: "a b" is not a shortcut`},
		{[]object{{"shortcut": "x", "text": strings.Repeat("y", 4097)}}, `deployments[0].cannedResponses[0].text: 4097 characters`},
		{[]object{{"shortcut": "x"}}, `deployments[0].cannedResponses[0].text: required`},
	} {
		rep := rest(t, admin, "PUT", "/v1/admin/deployments/demo", object{"queue": "support", "cannedResponses": tc.list})
		if e := rejected(t, rep, http.StatusBadRequest, "invalid_config"); !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%v: %q, want it to mention %q", tc.list, e.Message, tc.msg)
		}
	}
	rep := rest(t, admin, "PUT", "/v1/admin/deployments/demo", object{"queue": "support", "cannedResponses": []object{{"shortcut": "x", "body": "y"}}})
	if e := rejected(t, rep, http.StatusBadRequest, "invalid_request"); !strings.Contains(e.Message, "body") {
		t.Errorf("an unknown field: %q", e.Message)
	}
	if got := list(); !strings.Contains(got, `"shortcut":"bye"`) {
		t.Fatalf("a refused change changed the list: %s", got)
	}
}
