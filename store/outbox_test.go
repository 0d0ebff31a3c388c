package store_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/storetest"
)

// newOutboxStore is a store with the change feed on; pump turns its rows
// into storetest.OutboxPerEvent's entries, as the webhooks service does.
func newOutboxStore(t testing.TB) (*store.Store, string) {
	t.Helper()
	s, path := newTestStore(t, store.Options{})
	s.SetChangeFeed(true)
	return s, path
}

func openOutboxStore(t testing.TB, path string) *store.Store {
	t.Helper()
	s := openTestStore(t, path, store.Options{})
	s.SetChangeFeed(true)
	return s
}

// badEvent cannot be encoded: a write appending it fails inside its
// transaction, after its earlier steps were applied.
func badEvent() model.Event {
	return model.Event{Type: model.EventMessage, Data: json.RawMessage("{")}
}

// TestOutbox_FailedWriteWritesNoEntry: a write that fails inside the
// transaction leaves neither its events nor its entries, while the writes
// committed in the same batch keep both.
func TestOutbox_FailedWriteWritesNoEntry(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "hold")
	for _, id := range []string{"c1", "c2"} {
		mustCreateChat(t, s, id)
	}
	release := holdWriter(t, s, "hold")
	var wg sync.WaitGroup
	errs := make(map[string]error)
	var mu sync.Mutex
	for _, id := range []string{"c1", "boom", "c2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if id == "boom" {
				_, _, err = s.CreateChat(ctx, model.NewChat{Chat: testChat(id, "dep"), Events: []model.Event{badEvent()}})
			} else {
				_, _, _, err = s.Mutate(ctx, id, "", appendFn(message("m-"+id)))
			}
			mu.Lock()
			errs[id] = err
			mu.Unlock()
		}()
	}
	waitFor(t, 5*time.Second, func() bool { return store.QueueLen(s) == 3 })
	release()
	wg.Wait()
	if errs["c1"] != nil || errs["c2"] != nil || errs["boom"] == nil {
		t.Fatalf("errors = %v; want only boom to fail", errs)
	}
	if _, err := s.Chat(ctx, "boom"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("failed chat was stored: %v", err)
	}
	got := storetest.EventIDs(storetest.MustList(t, s, model.OutboxPending))
	slices.Sort(got)
	if want := []string{"c1:1", "c2:1"}; !slices.Equal(got, want) {
		t.Errorf("outbox = %v, want %v", got, want)
	}
}

// upTo wants n entries of every subscription.
func upTo(n int) func(string) int { return func(string) int { return n } }

// TestOutboxDepth_Counts: the counts OutboxDepth keeps without a transaction
// match the buckets through writes, deliveries, dead moves, retries,
// pruning, a batch retried after one of its writes failed, and a reopen.
func TestOutboxDepth_Counts(t *testing.T) {
	s, path := newOutboxStore(t)
	ctx := context.Background()
	check := func(step string, wantPending, wantDead int) {
		t.Helper()
		p, d := storetest.MustDepth(t, s)
		inPending, inDead := len(storetest.MustList(t, s, model.OutboxPending)), len(storetest.MustList(t, s, model.OutboxDead))
		if p != wantPending || d != wantDead || inPending != wantPending || inDead != wantDead {
			t.Fatalf("%s: depth %d pending, %d dead; buckets hold %d, %d; want %d, %d",
				step, p, d, inPending, inDead, wantPending, wantDead)
		}
	}
	dead := func(id uint64, at int64) model.OutboxEntry {
		return model.OutboxEntry{ID: id, EventID: fmt.Sprint(id), Attempts: 10, DeadAt: at}
	}
	check("empty", 0, 0)
	mustCreateChat(t, s, "c1")
	storetest.OutboxAt(t, s, "c1", 1, 1, 1, 1, 1, 1) // entries 1..6
	check("written", 6, 0)

	for _, id := range []uint64{1, 1, 99} { // delivered, again, unknown
		if err := s.DeleteOutbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	check("delivered", 5, 0)

	for _, id := range []uint64{2, 3, 4} {
		if err := s.MoveToDead(ctx, dead(id, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MoveToDead(ctx, dead(2, 1000)); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("second MoveToDead: %v", err)
	}
	check("dead", 2, 3)

	if err := s.UpdateOutbox(ctx, model.OutboxEntry{ID: 5, NextAt: 50, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateOutbox(ctx, model.OutboxEntry{ID: 1}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("UpdateOutbox of a delivered entry: %v", err)
	}
	check("updated", 2, 3)

	for _, id := range []uint64{2, 5} { // a dead one, a pending one
		if _, err := s.RetryDead(ctx, id, time.UnixMilli(60)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RetryDead(ctx, 99, time.UnixMilli(60)); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("RetryDead of an unknown id: %v", err)
	}
	check("retried one", 3, 2)
	if n, err := s.RetryAllDead(ctx, time.UnixMilli(70), 10); err != nil || n != 2 {
		t.Fatalf("RetryAllDead = %d, %v", n, err)
	}
	check("retried all", 5, 0)

	for id := uint64(2); id <= 6; id++ {
		if err := s.MoveToDead(ctx, dead(id, int64(id)*1000)); err != nil {
			t.Fatal(err)
		}
	}
	check("dead again", 0, 5)
	if n, err := s.PruneDead(ctx, time.UnixMilli(3500), 10); err != nil || n != 2 {
		t.Fatalf("PruneDead by age = %d, %v; want 2", n, err)
	}
	check("pruned by age", 0, 3)
	if n, err := s.PruneDead(ctx, time.UnixMilli(0), 1); err != nil || n != 2 {
		t.Fatalf("PruneDead by count = %d, %v; want 2", n, err)
	}
	check("pruned by count", 0, 1)

	// A batch of three writes whose second fails after the first applied:
	// the batch is retried without it, and the first counts once.
	mustCreateChat(t, s, "hold")
	mustCreateChat(t, s, "c2")
	release := holdWriter(t, s, "hold")
	errs := make(chan error, 3)
	for i, write := range []func() error{
		func() error { _, _, _, err := s.Mutate(ctx, "c1", "", appendFn(message("a"))); return err },
		func() error {
			_, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("boom", "dep"), Events: []model.Event{badEvent()}})
			return err
		},
		func() error { _, _, _, err := s.Mutate(ctx, "c2", "", appendFn(message("b"))); return err },
	} {
		go func() { errs <- write() }()
		waitFor(t, 5*time.Second, func() bool { return store.QueueLen(s) == i+1 }) // queued in this order
	}
	release()
	failed := 0
	for range 3 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d writes failed, want 1 (boom)", failed)
	}
	check("batch with a failed write", 2, 1)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.OutboxDepth(ctx); !errors.Is(err, model.ErrClosed) {
		t.Errorf("OutboxDepth after Close: %v, want ErrClosed", err)
	}
	s = openOutboxStore(t, path)
	check("reopened", 2, 1)
	storetest.OutboxAt(t, s, "c1", 1)
	check("written after reopen", 3, 1)
}

// TestPruneDead_RetriedMeanwhile: entries expired when PruneDead reads
// them, one of which is retried and dies again, later, before PruneDead's
// write commits (the writes queued in one transaction): only the other one
// goes. The suite's PruneDead test covers the rest.
func TestPruneDead_RetriedMeanwhile(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	storetest.OutboxAt(t, s, "c1", 1, 1) // entries 1, 2
	for id, at := range map[uint64]int64{1: 7000, 2: 8000} {
		if err := s.MoveToDead(ctx, model.OutboxEntry{ID: id, DeadAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	release := holdWriter(t, s, "c1")
	errs := make(chan error, 3)
	for i, write := range []func() error{
		func() error { _, err := s.RetryDead(ctx, 1, time.UnixMilli(9000)); return err },
		func() error { return s.MoveToDead(ctx, model.OutboxEntry{ID: 1, DeadAt: 9500}) },
		func() error {
			n, err := s.PruneDead(ctx, time.UnixMilli(9000), -1)
			if err == nil && n != 1 {
				err = fmt.Errorf("PruneDead removed %d, want 1", n)
			}
			return err
		},
	} {
		go func() { errs <- write() }()
		waitFor(t, 5*time.Second, func() bool { return store.QueueLen(s) == i+1 })
	}
	release()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := storetest.EntryIDs(storetest.MustList(t, s, model.OutboxDead)); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("dead %v, want [1]", got)
	}
	if p, d := storetest.MustDepth(t, s); p != 0 || d != 1 {
		t.Errorf("depth %d, %d; want 0, 1", p, d)
	}
}

// outboxTo makes one entry per appended event for the subscription its text
// names, due when it says: "<subscription>@<due ms>".
func outboxTo(c *model.Chat, evs []model.Event) []model.OutboxEntry {
	var out []model.OutboxEntry
	for _, ev := range evs {
		sub, at, _ := strings.Cut(ev.Text, "@")
		ms, _ := strconv.ParseInt(at, 10, 64)
		out = append(out, model.OutboxEntry{Subscription: sub, Event: string(ev.Type),
			EventID: fmt.Sprintf("%s:%d:%s", c.ID, ev.Seq, sub), CreatedAt: ms, NextAt: ms})
	}
	return out
}

// appendTo appends one event per "<subscription>@<due ms>" to chat c.
func appendTo(t testing.TB, s *store.Store, chatID string, entries ...string) {
	t.Helper()
	var add []model.Event
	for _, e := range entries {
		add = append(add, message(e))
	}
	if _, _, _, err := s.Mutate(context.Background(), chatID, "", appendFn(add...)); err != nil {
		t.Fatal(err)
	}
	storetest.PumpWith(t, s, outboxTo)
}

// TestOpen_SchemaMigration: a schema 1 file, whose outbox_due was keyed by
// due time alone, is reindexed by subscription at Open, and its entries are
// due and written as before; a file of a newer schema is refused.
func TestOpen_SchemaMigration(t *testing.T) {
	s, path := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	appendTo(t, s, "c1", "a@300", "b@100", "a@200", "b@5000") // 1..4
	if err := s.MoveToDead(ctx, model.OutboxEntry{ID: 4, DeadAt: 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rewrite := func(fn func(tx *bolt.Tx) error) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	rewrite(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("outbox_due")); err != nil {
			return err
		}
		due, err := tx.CreateBucket([]byte("outbox_due"))
		if err != nil {
			return err
		}
		err = tx.Bucket([]byte("outbox")).ForEach(func(k, v []byte) error {
			var e model.OutboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			return due.Put(append(u64(uint64(e.NextAt)), k...), nil) // nextAt ‖ id
		})
		if err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), u64(1))
	})

	s = openOutboxStore(t, path)
	storetest.Pump(t, s)
	due, next, err := s.PendingOutbox(ctx, time.UnixMilli(1000), upTo(10))
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.EntryIDs(due); !slices.Equal(got, []uint64{2, 3, 1}) || !next.IsZero() {
		t.Fatalf("due after migration = %v, next %v; want [2 3 1], none", got, next)
	}
	if p, d := storetest.MustDepth(t, s); p != 3 || d != 1 {
		t.Errorf("depth %d, %d; want 3, 1", p, d)
	}
	// Writes find the index entries of the entries they change.
	if err := s.DeleteOutbox(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateOutbox(ctx, model.OutboxEntry{ID: 3, Subscription: "a", NextAt: 6000}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetryDead(ctx, 4, time.UnixMilli(700)); err != nil {
		t.Fatal(err)
	}
	storetest.Pump(t, s)
	due, next, err = s.PendingOutbox(ctx, time.UnixMilli(1000), upTo(10))
	if got := storetest.EntryIDs(due); err != nil || !slices.Equal(got, []uint64{1, 4}) || next.UnixMilli() != 6000 {
		t.Fatalf("due after writes = %v, next %v, %v; want [1 4], 6000 ms", got, next, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	rewrite(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), u64(99)) })
	if s, err := store.Open(path, store.Options{}); err == nil {
		s.Close()
		t.Fatal("opened a file of schema 99")
	} else if !strings.Contains(err.Error(), "schema version 99") {
		t.Errorf("open schema 99: %v", err)
	}
}

// TestChangeFeed: rows are written only while the feed is on, one per write
// that appended events, with the chat as committed and the seqs appended;
// ConsumeChanges deletes the rows it names and writes its entries in one
// transaction; a row whose chat was deleted since has no events.
func TestChangeFeed(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")
	mustAppend(t, s, "c1", "before the feed")
	if n, err := s.ChangeFeedDepth(ctx); err != nil || n != 0 {
		t.Fatalf("rows while the feed is off: %d, %v", n, err)
	}
	s.SetChangeFeed(true)
	mustAppend(t, s, "c1", "a", "b")
	if _, _, _, err := s.Mutate(ctx, "c1", "", func(c *model.Chat) ([]model.Event, error) {
		c.State = model.StateActive
		return []model.Event{message("c")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Mutate(ctx, "c1", "", appendFn()); err != nil { // appends nothing: no row
		t.Fatal(err)
	}
	changes, events, err := s.Changes(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("%d rows, want 2 (one per write that appended)", len(changes))
	}
	if c := changes[0]; c.Chat.ID != "c1" || c.First != 2 || c.Last != 3 || c.Chat.State != model.StateQueued || len(events[0]) != 2 || events[0][1].Text != "b" {
		t.Errorf("first row %+v with %d events", c, len(events[0]))
	}
	if c := changes[1]; c.First != 4 || c.Last != 4 || c.Chat.State != model.StateActive || c.ID <= changes[0].ID {
		t.Errorf("second row %+v: want seq 4, the chat active as committed, after the first", c)
	}
	if err := s.ConsumeChanges(ctx, changes[0].ID, []model.OutboxEntry{{Subscription: "w", EventID: "c1:2"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ChangeFeedDepth(ctx); n != 1 {
		t.Errorf("%d rows after consuming the first, want 1", n)
	}
	if got := storetest.EventIDs(storetest.MustList(t, s, model.OutboxPending)); !slices.Contains(got, "c1:2") {
		t.Errorf("outbox %v lacks the consumed row's entry", got)
	}
	// A chat erased before its rows were read leaves nothing to announce.
	mustCreateChat(t, s, "gone")
	if _, err := s.EraseIdentity(ctx, "idn-gone", nil); err != nil {
		t.Fatal(err)
	}
	changes, events, err = s.Changes(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range changes {
		if c.Chat.ID == "gone" && len(events[i]) != 0 {
			t.Errorf("an erased chat's row still reads %d events", len(events[i]))
		}
	}
}
