package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
)

// sweepNow is the clock of the sweep tests: chats are written relative to it.
var sweepNow = time.UnixMilli(1_800_000_000_000)

func ago(d time.Duration) int64 { return sweepNow.Add(-d).UnixMilli() }

// lifecycleChat writes a chat of deployment dep whose events are all at
// time at, with an identity, a token, a start key, n messages and files
// files; end ends it at that time.
func lifecycleChat(t testing.TB, s *pgstore.Store, id, dep string, mode model.Mode, at int64, n, files int, end bool) {
	t.Helper()
	ctx := context.Background()
	c := model.Chat{ID: id, Deployment: dep, Mode: mode, State: model.StateQueued, IdentityID: "idn-" + id,
		CreatedAt: at, LastActivity: at}
	_, _, err := s.CreateChat(ctx, model.NewChat{Chat: c, TokenHash: model.HashToken("tok-" + id), StartKey: "start-" + id,
		Identity: &model.Identity{ID: "idn-" + id, CreatedAt: at},
		Events:   []model.Event{{Type: model.EventParticipantJoined, From: model.Party{Type: model.PartyClient}, Time: at}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 500 {
		var evs []model.Event
		for j := i; j < min(n, i+500); j++ {
			evs = append(evs, model.Event{Type: model.EventMessage, From: model.Party{Type: model.PartyClient}, Text: fmt.Sprint(j), Time: at})
		}
		if _, _, _, err := s.Mutate(ctx, id, "", appendFn(evs...)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range files {
		fid := fmt.Sprintf("%s-file%d", id, i)
		data, _ := json.Marshal(map[string]any{"file-id": fid, "file-name": "a.txt"})
		_, _, _, err := s.AddFile(ctx, id, "", model.File{ID: fid, Name: "a.txt", Time: at}, []byte("content of "+fid),
			appendFn(model.Event{Type: model.EventFileUploaded, From: model.Party{Type: model.PartyClient}, Time: at, Data: data}))
		if err != nil {
			t.Fatal(err)
		}
	}
	if end {
		_, _, _, err := s.Mutate(ctx, id, "", func(c *model.Chat) ([]model.Event, error) {
			c.State, c.EndedAt = model.StateEnded, at
			return []model.Event{{Type: model.EventChatEnded, Time: at}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// rowCounts counts the rows of the tables a chat's deletion touches.
func rowCounts(t testing.TB, s *pgstore.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"chats", "events", "files", "file_chunks", "identities", "tokens", "left_messages", "outbox"} {
		var n int
		if err := s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// TestSweepChats_WrittenMeanwhile: a chat written to between a step's read
// and its write stays; its identity too.
func TestSweepChats_WrittenMeanwhile(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	lifecycleChat(t, s, "w", "d", "async", ago(2*time.Hour), 0, 0, false)
	if _, _, _, err := s.Mutate(ctx, "w", "", func(c *model.Chat) ([]model.Event, error) { c.State = model.StateIdle; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	written := false
	p := model.SweepPolicy{Now: sweepNow, Retention: func(string) model.Retention {
		if !written { // the step's read: the visitor writes again meanwhile
			written = true
			ev := message("back")
			ev.Time = sweepNow.UnixMilli()
			if _, _, _, err := s.Mutate(ctx, "w", "", appendFn(ev)); err != nil {
				t.Error(err)
			}
		}
		return model.Retention{Chats: time.Hour}
	}}
	if _, r, err := s.SweepChats(ctx, p, "", 10); err != nil || !r.IsZero() {
		t.Fatalf("sweep removed %+v, %v; want nothing", r, err)
	}
	if _, err := s.Chat(ctx, "w"); err != nil {
		t.Errorf("chat written to during the sweep: %v", err)
	}
	if _, err := s.Identity(ctx, "idn-w"); err != nil {
		t.Errorf("its identity: %v", err)
	}
}

// TestEraseIdentity_ChangeConsumedAfter: a change row read before an
// erasure and consumed after it writes no delivery of the erased chat
// (ConsumeChanges skips chats that are gone), so no body of it outlives the
// erasure in the outbox.
func TestEraseIdentity_ChangeConsumedAfter(t *testing.T) {
	ctx := context.Background()
	s, _ := openOutbox(t)
	lifecycleChat(t, s, "a1", "d", "async", ago(time.Hour), 1, 0, false)
	pump(t, s)
	if _, _, _, err := s.Mutate(ctx, "a1", "", appendFn(message("late"))); err != nil {
		t.Fatal(err)
	}
	changes, events, err := s.Changes(ctx, 10)
	if err != nil || len(changes) != 1 {
		t.Fatalf("rows %+v, %v", changes, err)
	}
	if _, err := s.EraseIdentity(ctx, "idn-a1", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeChanges(ctx, changes[0].ID, outboxPerEvent(&changes[0].Chat, events[0])); err != nil {
		t.Fatal(err)
	}
	for _, state := range []model.OutboxState{model.OutboxPending, model.OutboxDead} {
		if list := mustList(t, s, state); len(list) != 0 {
			t.Errorf("%s deliveries after the erasure: %+v", state, list)
		}
	}
}
