package webhooks

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// TestRun_PrunesHourly: Run prunes the dead letters at start and then every
// hour, by the time they went dead.
func TestRun_PrunesHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, err := store.Open(filepath.Join(t.TempDir(), "cxgate.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ctx := context.Background()
		// Two entries (ids 1 and 2), written as the change feed's consumer does.
		if err := st.ConsumeChanges(ctx, 0, []model.OutboxEntry{{Subscription: "hook", NextAt: 1 << 62},
			{Subscription: "hook", NextAt: 1 << 62}}); err != nil {
			t.Fatal(err)
		}
		// Entry 1 died 2 h ago, entry 2 45 min ago; they are kept for 90 min.
		for id, age := range map[uint64]time.Duration{1: 2 * time.Hour, 2: 45 * time.Minute} {
			if err := st.MoveToDead(ctx, model.OutboxEntry{ID: id, Subscription: "hook", DeadAt: time.Now().Add(-age).UnixMilli()}); err != nil {
				t.Fatal(err)
			}
		}
		o := Options{DeadRetention: 90 * time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		o.applyDefaults()
		s := &Service{store: st, opts: o, now: o.Now, logger: o.Logger, kick: make(chan struct{}, 1)}
		dead := func() int {
			t.Helper()
			_, d, err := st.OutboxDepth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}

		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.Run(runCtx) }()
		defer func() { cancel(); <-done }()
		synctest.Wait()
		if d := dead(); d != 1 {
			t.Fatalf("%d dead after start, want 1 (the one older than the retention)", d)
		}
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if d := dead(); d != 1 {
			t.Fatalf("%d dead before the hour, want 1", d)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if d := dead(); d != 0 {
			t.Fatalf("%d dead after an hour, want 0", d)
		}
	})
}

// TestDispatch: dispatch starts due entries within Concurrency and
// PerWebhook, earliest due first, and says how long to wait: until an entry
// it could start falls due, or -1 (until a request ends) when every due entry
// waits for a busy subscription.
func TestDispatch(t *testing.T) {
	now := time.UnixMilli(1_000_000_000)
	// An event "<subscription>@<seconds from now>" makes one entry.
	st, err := store.Open(filepath.Join(t.TempDir(), "cxgate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	// An entry "<subscription>@<seconds from now>", written as the change
	// feed's consumer does.
	var entries []model.OutboxEntry
	for _, text := range []string{"slow@-50", "slow@-40", "slow@-30", "fast@-20", "slow@-10", "fast@30"} { // ids 1..6
		sub, in, _ := strings.Cut(text, "@")
		secs, _ := strconv.Atoi(in)
		entries = append(entries, model.OutboxEntry{Subscription: sub, NextAt: now.Add(time.Duration(secs) * time.Second).UnixMilli()})
	}
	if err := st.ConsumeChanges(ctx, 0, entries); err != nil {
		t.Fatal(err)
	}
	o := Options{Concurrency: 4, PerWebhook: 2, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	o.applyDefaults()
	s := &Service{store: st, opts: o, now: o.Now, logger: o.Logger, kick: make(chan struct{}, 1)}
	inflight := newFlights()
	step := func(name string, wantStarted []uint64, wantWait time.Duration) {
		t.Helper()
		var started []uint64
		wait := s.dispatch(ctx, inflight, func(e model.OutboxEntry) { started = append(started, e.ID) })
		if !slices.Equal(started, wantStarted) || wait != wantWait {
			t.Fatalf("%s: started %v, wait %v; want %v, %v", name, started, wait, wantStarted, wantWait)
		}
	}
	// finish ends the request of entry id, delivered.
	finish := func(id uint64) {
		t.Helper()
		e, _, err := st.OutboxEntryByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteOutbox(ctx, id); err != nil {
			t.Fatal(err)
		}
		inflight.remove(e)
	}

	step("first", []uint64{1, 2, 4}, 30*time.Second) // slow at its limit; fast's next in 30 s
	step("nothing ended", nil, 30*time.Second)
	finish(4)
	now = now.Add(30 * time.Second)
	step("fast due again", []uint64{6}, -1) // slow's due ones wait for slow
	finish(1)
	step("slow's ended", []uint64{3}, -1)
	finish(6)
	finish(2)
	step("all free", []uint64{5}, -1)
	finish(3)
	finish(5)
	step("empty", nil, -1)
	if len(inflight.ids) != 0 || len(inflight.subs) != 0 {
		t.Errorf("in flight after all ended: %+v", inflight)
	}
}
