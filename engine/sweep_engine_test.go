package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// visitorSays appends a visitor message at the clock's time.
func (te *testEngine) visitorSays(t *testing.T, c model.Chat, text string) {
	t.Helper()
	_, err := te.Append(context.Background(), c.ID, "", model.Event{Type: model.EventMessage, Time: te.clock.Now().UnixMilli(),
		From: model.Party{ID: c.IdentityID, Name: "visitor", Type: "Client"}, Text: text})
	if err != nil {
		t.Fatalf("visitor message: %v", err)
	}
}

// TestEngineIdleSweep: a live chat quiet for longer than its deployment's
// idleTimeout (10 min here) is ended by the sweep, by "idle", and its agent's
// seat is freed; activity restarts the count; an asynchronous conversation
// is never ended for being quiet.
func TestEngineIdleSweep(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 5, nil, nil)))
	ctx := context.Background()
	te.online(t, "ann")
	live := te.start(t, engine.StartRequest{Deployment: "web"})
	async := te.start(t, engine.StartRequest{Deployment: "async"})
	te.waitHeld(t, live.ID)
	te.waitHeld(t, async.ID)

	te.clock.Add(9 * time.Minute)
	te.visitorSays(t, live, "still there?")
	te.clock.Add(9 * time.Minute) // 18 min since the start, 9 since the message
	te.SweepIdle(ctx)
	if c := te.chat(t, live.ID); c.State != model.StateActive {
		t.Fatalf("chat quiet 9 min of 10 is %s, want active", c.State)
	}
	te.clock.Add(2 * time.Minute)
	te.SweepIdle(ctx)
	c := te.chat(t, live.ID)
	if c.State != model.StateEnded || c.EndedBy != "idle" {
		t.Fatalf("chat quiet 11 min of 10: state %s ended by %q, want ended by idle", c.State, c.EndedBy)
	}
	if got := te.eventTypes(t, live.ID); got[len(got)-1] != model.EventChatEnded || len(te.holders(t, live.ID)) != 0 {
		t.Errorf("idle end: events %v, agents %v", got, te.holders(t, live.ID))
	}
	if got := te.agentChats(t, "ann"); !slices.Equal(got, []string{async.ID}) {
		t.Errorf("Ann counts %v after the idle end, want only the asynchronous chat", got)
	}
	if c := te.chat(t, async.ID); c.State == model.StateEnded {
		t.Error("the sweep ended an asynchronous conversation for being quiet")
	}
}

// TestEngineThreadClose: an asynchronous conversation's thread closes once
// quiet for its deployment's threadInactivity (1 h here), by the sweep or by
// the next message, which opens the next thread; the conversation stays
// open throughout.
func TestEngineThreadClose(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 5, nil, nil)))
	ctx := context.Background()
	c := te.start(t, engine.StartRequest{Deployment: "async"})
	te.visitorSays(t, c, "hello")
	if got := te.chat(t, c.ID); !got.ThreadOpen || got.Thread != 1 {
		t.Fatalf("after the first message: thread %d open %v, want 1 open", got.Thread, got.ThreadOpen)
	}

	te.clock.Add(59 * time.Minute)
	te.SweepIdle(ctx)
	if got := te.chat(t, c.ID); !got.ThreadOpen {
		t.Fatal("the sweep closed a thread quiet 59 min of 60")
	}
	te.clock.Add(2 * time.Minute)
	te.SweepIdle(ctx)
	got := te.chat(t, c.ID)
	if got.ThreadOpen || got.State == model.StateEnded {
		t.Fatalf("thread quiet 61 min: open %v, state %s; want closed, conversation open", got.ThreadOpen, got.State)
	}
	evs, err := te.EventsAfter(ctx, c.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	var d struct {
		Thread int    `json:"thread"`
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(last.Data, &d)
	if last.Type != model.EventThreadClosed || d.Thread != 1 || d.Reason != "inactivity" {
		t.Errorf("last event %s %s, want ThreadClosed of thread 1 for inactivity", last.Type, last.Data)
	}
	te.SweepIdle(ctx) // nothing more to close
	if n := te.chat(t, c.ID).LastSeq; n != last.Seq {
		t.Errorf("a second sweep wrote %d events", n-last.Seq)
	}

	te.visitorSays(t, c, "me again")
	if got := te.chat(t, c.ID); !got.ThreadOpen || got.Thread != 2 {
		t.Errorf("after the next message: thread %d open %v, want 2 open", got.Thread, got.ThreadOpen)
	}
	// No sweep this time: the message after the inactivity closes the old
	// thread and opens the new one in the same write.
	te.clock.Add(2 * time.Hour)
	te.visitorSays(t, c, "and again")
	types := te.eventTypes(t, c.ID)
	if want := []model.EventType{model.EventThreadClosed, model.EventThreadOpened, model.EventMessage}; !slices.Equal(types[len(types)-3:], want) {
		t.Errorf("a message after 2 h of quiet wrote %v, want %v", types[len(types)-3:], want)
	}
	if got := te.chat(t, c.ID); got.Thread != 3 || !got.ThreadOpen || got.State == model.StateEnded {
		t.Errorf("thread %d open %v state %s, want thread 3 open", got.Thread, got.ThreadOpen, got.State)
	}
}

// TestEngineIdleSweepSparesActivity: the sweep decides which chats are idle
// from its view, then ends them one write at a time; a chat whose visitor
// writes in between is no longer idle and must not be ended. Visitors write
// in every chat while the sweep runs: each chat ends up either ended before
// its message (which is refused) or open with it, never ended for
// idleness after an accepted message.
func TestEngineIdleSweepSparesActivity(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 99, nil, nil)))
	ctx := context.Background()
	var chats []model.Chat
	for range 40 {
		chats = append(chats, te.start(t, engine.StartRequest{Deployment: "web"}))
	}
	te.clock.Add(11 * time.Minute) // every chat past its 10 min
	accepted := make([]bool, len(chats))
	parallelDo(len(chats)+1, func(i int) {
		if i == len(chats) {
			te.SweepIdle(ctx)
			return
		}
		_, err := te.Append(ctx, chats[i].ID, "", model.Event{Type: model.EventMessage, Time: te.clock.Now().UnixMilli(),
			From: model.Party{ID: chats[i].IdentityID, Name: "visitor", Type: "Client"}, Text: "still here"})
		switch {
		case err == nil:
			accepted[i] = true
		case !errors.Is(err, engine.ErrEnded):
			t.Errorf("message %d: %v", i, err)
		}
	})
	bad := 0
	for i, c := range chats {
		if got := te.chat(t, c.ID); accepted[i] && got.State == model.StateEnded {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d chats ended as idle after their visitor's message was accepted", bad, len(chats))
	}
}
