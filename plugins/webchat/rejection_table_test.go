package webchat_test

import (
	"path/filepath"
	"testing"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/admin"
	agentplugin "github.com/cxgate/cxgate/plugins/agent"
	"github.com/cxgate/cxgate/plugins/internal/filerej"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/plugins/webchat"
	"github.com/cxgate/cxgate/plugins/webhooks"
)

// goldenRejectionTable pins every rejection each plugin declares: its code,
// HTTP status and text. TestRejections pins what the wire answers for the
// cases a client can reach; this table pins the closed set itself, so a
// rejection changed or added anywhere shows in review.
var goldenRejectionTable = filepath.Join("..", "..", "testdata", "wire", "rejections.table.golden.json")

func TestRejectionTable(t *testing.T) {
	sets := map[string]map[string]*bus.Rejection{
		webchat.Name:     webchat.Rejections(),
		agentplugin.Name: agentplugin.Rejections(),
		admin.Name:       admin.Rejections(),
		webhooks.Name:    webhooks.Rejections(),
		lifecycle.Name:   lifecycle.Rejections(),
		"files":          filerej.Rejections(), // WebChatService's, AgentService's and DataService's file commands
		"bus": {
			"ErrUnknownCommand": bus.ErrUnknownCommand,
			"ErrVetoed":         bus.ErrVetoed,
			"ErrUnauthorized":   bus.ErrUnauthorized,
			"ErrForbidden":      bus.ErrForbidden,
			"ErrInternal":       bus.ErrInternal,
			"ErrTimeout":        bus.ErrTimeout,
			"ErrUnavailable":    bus.ErrUnavailable,
			"ErrRateLimited":    bus.ErrRateLimited,
			"ErrInvalidOptions": bus.ErrInvalidOptions,
		},
	}
	got := map[string]outcome{}
	statusOf := map[string]int{} // code → status: one code names one case
	for plugin, set := range sets {
		for name, r := range set {
			if r == nil || r.Code == "" || r.Message == "" || r.Status == 0 {
				t.Errorf("%s.%s: %+v is not a complete rejection", plugin, name, r)
				continue
			}
			got[plugin+"/"+name] = outcome{Status: r.Status, Code: r.Code, Message: r.Message}
			if s, ok := statusOf[r.Code]; ok && s != r.Status {
				t.Errorf("code %q answers HTTP %d in one place and %d in another (%s.%s)", r.Code, s, r.Status, plugin, name)
			}
			statusOf[r.Code] = r.Status
		}
	}
	checkGolden(t, goldenRejectionTable, got)
}
