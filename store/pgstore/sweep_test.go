package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

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
	storetest.LifecycleChat(t, s, "w", "d", "async", storetest.Ago(2*time.Hour), 0, 0, false)
	if _, _, _, err := s.Mutate(ctx, "w", "", func(c *model.Chat) ([]model.Event, error) { c.State = model.StateIdle; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	written := false
	p := model.SweepPolicy{Now: storetest.SweepNow, Retention: func(string) model.Retention {
		if !written { // the step's read: the visitor writes again meanwhile
			written = true
			ev := message("back")
			ev.Time = storetest.SweepNow.UnixMilli()
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
	storetest.LifecycleChat(t, s, "a1", "d", "async", storetest.Ago(time.Hour), 1, 0, false)
	storetest.Pump(t, s)
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
	if err := s.ConsumeChanges(ctx, changes[0].ID, storetest.OutboxPerEvent(&changes[0].Chat, events[0])); err != nil {
		t.Fatal(err)
	}
	for _, state := range []model.OutboxState{model.OutboxPending, model.OutboxDead} {
		if list := storetest.MustList(t, s, state); len(list) != 0 {
			t.Errorf("%s deliveries after the erasure: %+v", state, list)
		}
	}
}
