package agent_test

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestPresenceSurvivesRestart restarts a gateway (same store) with two
// agents online and a chat each: Ann reconnects within the grace period and
// is online with her chat; Bob does not come back, so after the grace he is
// away and his chat is queued again, its visitor told.
func TestPresenceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var ticks atomic.Int64
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(ticks.Add(int64(time.Millisecond)))) }
	const grace = 30 * time.Second
	cfg := twoAgentsConfig()
	cfg.Agents = cfg.Agents[:2]
	cfg.Agents[0].MaxChats, cfg.Agents[1].MaxChats = 1, 1 // one chat each, and none for Ann to take over
	var chatOf = map[string]string{}                      // agent → its chat
	var visitorOf = map[string]string{}                   // chat → visitor token

	t.Run("BeforeRestart", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{Config: cfg, DataDir: dir, Now: now, PresenceGrace: grace})
		for _, a := range []struct{ id, token string }{{"ann", "ann-secret"}, {"bob", "bob-secret-1"}} {
			sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
			sock.MustAuth(a.token, 0)
			sock.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
			var st struct{ ChatID, Token string }
			wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &st)
			wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Engine().IsParticipant(st.ChatID, a.id) })
			chatOf[a.id], visitorOf[st.ChatID] = st.ChatID, st.Token
		}
	})

	t.Run("AfterRestart", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{Config: cfg, DataDir: dir, Now: now, PresenceGrace: grace})
		for _, id := range []string{"ann", "bob"} {
			if info, err := gw.Engine().Agent(id); err != nil || info.Status != engine.StatusOnline || !slices.Contains(info.Chats, chatOf[id]) {
				t.Fatalf("after the restart %s is %+v (%v), want online with %s for the grace period", id, info, err, chatOf[id])
			}
		}
		// Ann comes back within the grace; Bob does not.
		ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
		ann.MustAuth("ann-secret", 0)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Bus().Subscribers(bus.AgentTopic("ann")) > 0 })
		gw.Engine().SweepPresence()
		ticks.Add(int64(grace + time.Second))
		gw.Engine().SweepPresence()

		var status struct {
			Status model.AgentStatus
			Chats  []string
		}
		ann.Command("AgentService.getStatus", nil).Into(t, &status)
		if status.Status != engine.StatusOnline || !slices.Contains(status.Chats, chatOf["ann"]) {
			t.Errorf("Ann, back within the grace, is %+v; want online with %s", status, chatOf["ann"])
		}
		bob, err := gw.Engine().Agent("bob")
		if err != nil || bob.Status != engine.StatusAway || len(bob.Chats) != 0 {
			t.Errorf("Bob, gone past the grace, is %+v (%v); want away without chats", bob, err)
		}
		// Bob, back later, is told why he is away without his chat.
		var later struct {
			Status model.AgentStatus
			Note   string
			Chats  []any
		}
		wiretest.NewHTTP(t, gw.URL).WithToken("bob-secret-1").Command("AgentService.listChats", nil).Into(t, &later)
		if later.Status != engine.StatusAway || len(later.Chats) != 0 || !strings.Contains(later.Note, "went back to the queue") {
			t.Errorf("Bob's listChats after the grace: %+v; want away, no chats, and a note saying why", later)
		}
		lost := chatOf["bob"]
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { pos, _ := gw.Engine().QueuePosition(lost); return pos == 1 })
		visitor := wiretest.NewHTTP(t, gw.URL).WithToken(visitorOf[lost])
		told := false
		for _, ev := range visitorStream(t, visitor) {
			told = told || strings.Contains(string(ev.Data), "no longer available")
		}
		if !told {
			t.Errorf("Bob's visitor was not told that the chat is queued again: %v", visitorStream(t, visitor))
		}
	})
}
