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
