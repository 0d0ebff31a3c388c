package engine_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// testClock is the engine's clock in these tests: it moves only when a test
// moves it, so idle timeouts, thread inactivity, presence grace and the
// routing tie-break are decided by the test, never by the machine's speed.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock on by d.
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testEngine is an engine on a real store in t.TempDir(), running its router
// and sweeper, with an injected clock and presence. It is the one place that
// wires the engine to the store as the server does (the engine follows the
// store's commits from Load on, the store keeps the agents' statuses): when
// that wiring changes, only newTestEngine does.
type testEngine struct {
	*engine.Engine
	st    *store.Store
	clock *testClock

	presentMu sync.Mutex
	present   map[string]bool // agents with a live connection
}

// newTestEngine starts an engine on cfg (defaults applied) and stops it,
// then closes the store, when the test ends.
func newTestEngine(t *testing.T, cfg config.Config) *testEngine {
	t.Helper()
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	te := &testEngine{
		clock:   &testClock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)},
		present: map[string]bool{},
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "engine.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	te.st = st
	eng := engine.New(cfg, st, engine.Options{
		Now:      te.clock.Now,
		Presence: te.isPresent,
		Statuses: st,
	})
	te.Engine = eng
	if err := eng.Load(context.Background()); err != nil {
		st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return te
}

func (te *testEngine) isPresent(agentID string) bool {
	te.presentMu.Lock()
	defer te.presentMu.Unlock()
	return te.present[agentID]
}

// setPresent says whether the agent has a live connection.
func (te *testEngine) setPresent(agentID string, on bool) {
	te.presentMu.Lock()
	defer te.presentMu.Unlock()
	te.present[agentID] = on
}

// online sets each agent online, with a connection, one clock tick apart so
// that the first one named has been free the longest.
func (te *testEngine) online(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		te.setPresent(id, true)
		if err := te.SetStatus(context.Background(), id, engine.StatusOnline); err != nil {
			t.Fatalf("%s online: %v", id, err)
		}
		te.clock.Add(time.Millisecond)
	}
}

// start starts a chat on the deployment; the clock moves a tick after it, so
// that every chat has its own creation time ("oldest first" is then
// observable).
func (te *testEngine) start(t *testing.T, r engine.StartRequest) model.Chat {
	t.Helper()
	if r.Visitor.Nickname == "" {
		r.Visitor.Nickname = "visitor"
	}
	s, err := te.Start(context.Background(), r)
	if err != nil {
		t.Fatalf("start %+v: %v", r, err)
	}
	te.clock.Add(time.Millisecond)
	return s.Chat
}

// chat reads a chat from the store.
func (te *testEngine) chat(t *testing.T, id string) model.Chat {
	t.Helper()
	c, err := te.st.Chat(context.Background(), id)
	if err != nil {
		t.Fatalf("chat %s: %v", id, err)
	}
	return c
}

// holders lists the agents connected to the chat in the store.
func (te *testEngine) holders(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, p := range te.chat(t, id).Participants {
		if p.Connected() {
			out = append(out, p.ID)
		}
	}
	return out
}

// participant is the agent's participant record in the chat, for the calls
// that act as it (Transfer, Resolve).
func (te *testEngine) participant(t *testing.T, chatID, agentID string) model.Participant {
	t.Helper()
	for _, p := range te.chat(t, chatID).Participants {
		if p.ID == agentID && p.Connected() {
			return p
		}
	}
	t.Fatalf("%s is not in chat %s", agentID, chatID)
	return model.Participant{}
}

// agentChats is the open chats the engine counts against the agent.
func (te *testEngine) agentChats(t *testing.T, agentID string) []string {
	t.Helper()
	info, err := te.Agent(agentID)
	if err != nil {
		t.Fatal(err)
	}
	return info.Chats
}

// waitHeld waits until the router has given the chat to an agent and returns
// that agent. The store is read first, then the engine's view: a reader may
// see a commit before the commit hook has run, and both must agree.
func (te *testEngine) waitHeld(t *testing.T, chatID string) string {
	t.Helper()
	var h []string
	waitFor(t, "chat "+chatID+" assigned", func() bool {
		h = te.holders(t, chatID)
		return len(h) > 0 && te.IsParticipant(chatID, h[0])
	})
	if len(h) != 1 {
		t.Fatalf("chat %s has %d agents: %v", chatID, len(h), h)
	}
	return h[0]
}

// eventTypes lists the types of the chat's committed events, in seq order.
func (te *testEngine) eventTypes(t *testing.T, chatID string) []model.EventType {
	t.Helper()
	evs, err := te.EventsAfter(context.Background(), chatID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []model.EventType
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline: the router works on its own goroutine. The deadline bounds a
// hang; it decides nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sorted returns a sorted copy.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
