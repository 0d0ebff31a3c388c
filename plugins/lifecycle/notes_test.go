package lifecycle_test

import (
	"net/http"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestExportFlagsNotes: a visitor's export holds the agents' internal notes
// of its chats, flagged internal, and the replies unflagged.
func TestExportFlagsNotes(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var pia started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Pia"}).Into(t, &pia)
	guest.WithToken(pia.Token).Command("WebChatService.sendMessage", map[string]string{"message": "hello there"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(pia.ChatID, "ann") })
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": pia.ChatID, "message": "note: VIP", "internal": true}).Resolved(t)
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": pia.ChatID, "message": "Hi Pia"}).Resolved(t)

	var ex lifecycle.Export
	rest(t, gw, http.MethodGet, "/v1/admin/identities/"+pia.ParticipantID+"/export").Into(t, &ex)
	if len(ex.Chats) != 1 {
		t.Fatalf("export: %+v", ex)
	}
	flags := map[string]bool{}
	for _, ev := range ex.Chats[0].Transcript {
		if ev.Text != "" {
			flags[ev.Text] = ev.Internal
		}
	}
	if internal, ok := flags["note: VIP"]; !ok || !internal {
		t.Errorf("the note in the export: present %v, internal %v", ok, internal)
	}
	if internal, ok := flags["Hi Pia"]; !ok || internal {
		t.Errorf("the reply in the export: present %v, internal %v", ok, internal)
	}
}
