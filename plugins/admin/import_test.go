package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestFileAndStoreDisagree: once the store has a directory, a start with an
// edited file says exactly which entries differ; --import-config makes the
// file's directory the store's, after validating it whole.
func TestFileAndStoreDisagree(t *testing.T) {
	dir := t.TempDir()
	first := config.Demo()
	edited := config.Demo()
	edited.Queues = append(edited.Queues, config.Queue{Name: "sales"})
	edited.Deployments[0].Origins = []string{"https://shop.example"} // demo differs
	edited.Deployments = edited.Deployments[:1]                      // demo-async only in the store
	edited.Agents = []config.Agent{{ID: "bob", Token: "bob-secret"}} // bob only in the file, ann only in the store
	var annsChat string

	t.Run("Seed", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: &first})
		wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
		var st struct{ ChatID string }
		wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &st)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st.ChatID, "ann") })
		annsChat = st.ChatID
	})
	t.Run("EditedFileNamed", func(t *testing.T) {
		var logs logBuffer
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: &edited, Logger: logs.logger()})
		want := `differences="deployments: demo differs, demo-async only in the store; queues: sales only in the file; agents: bob only in the file, ann only in the store"`
		if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "--import-config") {
			t.Errorf("log does not name the differences and the way out:\n%s", logs.String())
		}
		if cfg := gw.Config(); hasQueue(&cfg, "sales") {
			t.Error("the file's new queue is in force without an import")
		}
	})
	t.Run("InvalidFileNotImported", func(t *testing.T) {
		bad := edited
		bad.Deployments = append([]config.Deployment(nil), edited.Deployments...)
		bad.Deployments[0].Queue = "nowhere"
		bad.Data = dir
		_, err := server.New(bad, server.Options{ImportConfig: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), "deployments[0].queue") {
			t.Fatalf("importing an invalid file: %v", err)
		}
	})
	t.Run("Import", func(t *testing.T) {
		var logs logBuffer
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: &edited, ImportConfig: true, Logger: logs.logger()})
		if !strings.Contains(logs.String(), "replaced the store's with the configuration's") ||
			!strings.Contains(logs.String(), "demo-async only in the store") {
			t.Errorf("log of the import:\n%s", logs.String())
		}
		cfg := gw.Config()
		if _, ok := cfg.Queue("sales"); !ok {
			t.Error("queue sales not imported")
		}
		if _, ok := cfg.Deployment("demo-async"); ok {
			t.Error("demo-async still there after importing a file without it")
		}
		if d, _ := cfg.Deployment("demo"); len(d.Origins) != 1 || d.Origins[0] != "https://shop.example" {
			t.Errorf("demo's origins = %v", d.Origins)
		}
		wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret").Command("AgentService.getStatus", nil).Resolved(t)
		rejected(t, wiretest.NewHTTP(t, gw.URL).WithToken("ann-secret").Command("AgentService.getStatus", nil),
			http.StatusUnauthorized, "unauthorized")
		// Ann's chat, held by an agent the import dropped, waits for another.
		if pos, _ := gw.Engine().QueuePosition(annsChat); pos != 1 || gw.Engine().IsParticipant(annsChat, "ann") {
			t.Errorf("the chat of the dropped agent: position %d, ann still in it: %v", pos, gw.Engine().IsParticipant(annsChat, "ann"))
		}
		rejected(t, rest(t, wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken), "GET", "/v1/admin/deployments/demo-async", nil),
			http.StatusNotFound, "not_found")
	})
	t.Run("SameAfterwards", func(t *testing.T) {
		var logs logBuffer
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Config: &edited, Logger: logs.logger()})
		if !strings.Contains(logs.String(), "the same as the configuration's") {
			t.Errorf("after the import the file and the store still differ:\n%s", logs.String())
		}
		d, err := gw.Store().Directory(context.Background())
		if err != nil || len(d["deployments"]) != 1 {
			t.Errorf("stored deployments: %v %v", d["deployments"], err)
		}
	})
}

func hasQueue(c *config.Config, name string) bool { _, ok := c.Queue(name); return ok }
