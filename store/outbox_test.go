package store_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// outboxPerEvent makes one entry per appended event, its EventID
// "<chat>:<seq>", due at the event's time.
func outboxPerEvent(c *model.Chat, evs []model.Event) []model.OutboxEntry {
	var out []model.OutboxEntry
	for _, ev := range evs {
		out = append(out, model.OutboxEntry{Subscription: "hook-1", Event: string(ev.Type),
			EventID: fmt.Sprintf("%s:%d", c.ID, ev.Seq), Body: []byte(`{"text":"` + ev.Text + `"}`),
			CreatedAt: ev.Time, NextAt: ev.Time})
	}
	return out
}

// newOutboxStore is a store with the change feed on; pump turns its rows
// into outboxPerEvent's entries, as the webhooks service does.
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

// pump consumes the change feed into outboxPerEvent's entries.
func pump(t testing.TB, s *store.Store) {
	t.Helper()
	pumpWith(t, s, outboxPerEvent)
}

// pumpWith consumes the change feed into the entries outbox makes.
func pumpWith(t testing.TB, s *store.Store, outbox func(c *model.Chat, evs []model.Event) []model.OutboxEntry) {
	t.Helper()
	ctx := context.Background()
	for {
		changes, events, err := s.Changes(ctx, 100)
		if err != nil {
			t.Fatalf("changes: %v", err)
		}
		if len(changes) == 0 {
			return
		}
		var entries []model.OutboxEntry
		for i := range changes {
			entries = append(entries, outbox(&changes[i].Chat, events[i])...)
		}
		if err := s.ConsumeChanges(ctx, changes[len(changes)-1].ID, entries); err != nil {
			t.Fatalf("consume changes: %v", err)
		}
	}
}

// badEvent cannot be encoded: a write appending it fails inside its
// transaction, after its earlier steps were applied.
func badEvent() model.Event {
	return model.Event{Type: model.EventMessage, Data: json.RawMessage("{")}
}

func mustList(t testing.TB, s *store.Store, state model.OutboxState) []model.OutboxEntry {
	t.Helper()
	pump(t, s)
	list, err := s.ListOutbox(context.Background(), state, 0, 1000)
	if err != nil {
		t.Fatalf("list %s: %v", state, err)
	}
	return list
}

func eventIDs(list []model.OutboxEntry) []string {
	out := []string{}
	for _, e := range list {
		out = append(out, e.EventID)
	}
	return out
}

func entryIDs(list []model.OutboxEntry) []uint64 {
	out := []uint64{}
	for _, e := range list {
		out = append(out, e.ID)
	}
	return out
}

func mustDepth(t testing.TB, s *store.Store) (pending, dead int) {
	t.Helper()
	pump(t, s)
	pending, dead, err := s.OutboxDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pending, dead
}

// TestOutbox_WrittenWithEvents: CreateChat and Mutate write the entries of
// what they append, and only of that: a replayed request, a refused mutation
// and a mutation that appends nothing write none.
func TestOutbox_WrittenWithEvents(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	_, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("c1", "dep"), StartKey: "start-1",
		Events: []model.Event{{Type: model.EventParticipantJoined, From: model.Party{Type: model.PartyClient}, Time: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	// A retried start is answered from the first one: no second entry.
	if _, existing, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("c1-again", "dep"), StartKey: "start-1"}); err != nil || !existing {
		t.Fatalf("retried start: existing %v, err %v", existing, err)
	}
	if _, _, _, err := s.Mutate(ctx, "c1", "req-1", appendFn(message("a"), message("b"))); err != nil {
		t.Fatal(err)
	}
	if _, _, replayed, err := s.Mutate(ctx, "c1", "req-1", appendFn(message("a"), message("b"))); err != nil || !replayed {
		t.Fatalf("replay: replayed %v, err %v", replayed, err)
	}
	refuse := errors.New("refused")
	if _, _, _, err := s.Mutate(ctx, "c1", "", func(*model.Chat) ([]model.Event, error) { return nil, refuse }); !errors.Is(err, refuse) {
		t.Fatalf("refused mutation: %v", err)
	}
	if _, _, _, err := s.Mutate(ctx, "c1", "", appendFn()); err != nil {
		t.Fatal(err)
	}

	list := mustList(t, s, model.OutboxPending)
	if got, want := eventIDs(list), []string{"c1:1", "c1:2", "c1:3"}; !slices.Equal(got, want) {
		t.Fatalf("outbox event ids = %v, want %v", got, want)
	}
	if got, want := entryIDs(list), []uint64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("outbox ids = %v, want %v", got, want)
	}
	if e := list[1]; string(e.Body) != `{"text":"a"}` || e.Event != string(model.EventMessage) || e.Subscription != "hook-1" {
		t.Errorf("entry 2 = %+v", e)
	}
	if p, d := mustDepth(t, s); p != 3 || d != 0 {
		t.Errorf("depth = %d pending, %d dead; want 3, 0", p, d)
	}
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
	got := eventIDs(mustList(t, s, model.OutboxPending))
	slices.Sort(got)
	if want := []string{"c1:1", "c2:1"}; !slices.Equal(got, want) {
		t.Errorf("outbox = %v, want %v", got, want)
	}
}

// outboxAt appends one event per time in ms to chat c, each making an entry
// due at that time.
func outboxAt(t testing.TB, s *store.Store, chatID string, times ...int64) {
	t.Helper()
	var add []model.Event
	for _, at := range times {
		ev := message(fmt.Sprint(at))
		ev.Time = at
		add = append(add, ev)
	}
	if _, _, _, err := s.Mutate(context.Background(), chatID, "", appendFn(add...)); err != nil {
		t.Fatal(err)
	}
	pump(t, s)
}

// upTo wants n entries of every subscription.
func upTo(n int) func(string) int { return func(string) int { return n } }

func TestPendingOutbox_DueOrder(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	// Entries 1..4, due at 3000, 1000, 2000 and 9000 ms.
	outboxAt(t, s, "c1", 3000, 1000, 2000, 9000)

	tests := []struct {
		name     string
		now      int64
		limit    int
		wantIDs  []uint64
		wantNext int64 // 0: none
	}{
		{"NoneDue", 999, 10, []uint64{}, 1000},
		{"SomeDue", 2500, 10, []uint64{2, 3}, 3000},
		{"AllDue", 9000, 10, []uint64{2, 3, 1, 4}, 0},
		// Due entries beyond the limit are not next: they are due already.
		{"Limited", 9000, 2, []uint64{2, 3}, 0},
		{"LimitedSomeDue", 2500, 1, []uint64{2}, 3000},
		{"NoneWanted", 9000, 0, []uint64{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pump(t, s)
			due, next, err := s.PendingOutbox(ctx, time.UnixMilli(tc.now), upTo(tc.limit))
			if err != nil {
				t.Fatal(err)
			}
			if got := entryIDs(due); !slices.Equal(got, tc.wantIDs) {
				t.Errorf("due = %v, want %v", got, tc.wantIDs)
			}
			var wantNext time.Time
			if tc.wantNext != 0 {
				wantNext = time.UnixMilli(tc.wantNext)
			}
			if !next.Equal(wantNext) {
				t.Errorf("next = %v, want %v", next, wantNext)
			}
		})
	}

	// Rescheduling moves an entry in the due order.
	pump(t, s)
	due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(1000), upTo(1))
	e := due[0]
	e.Attempts, e.NextAt, e.LastError, e.LastStatus = 1, 5000, "503 Service Unavailable", 503
	if err := s.UpdateOutbox(ctx, e); err != nil {
		t.Fatal(err)
	}
	pump(t, s)
	due, next, err := s.PendingOutbox(ctx, time.UnixMilli(4000), upTo(10))
	if err != nil {
		t.Fatal(err)
	}
	if got := entryIDs(due); !slices.Equal(got, []uint64{3, 1}) || !next.Equal(time.UnixMilli(5000)) {
		t.Errorf("after reschedule: due %v, next %v; want [3 1], 5000 ms", got, next.UnixMilli())
	}
	got, state, err := s.OutboxEntryByID(ctx, 2)
	if err != nil || state != model.OutboxPending || got.Attempts != 1 || got.LastStatus != 503 || got.NextAt != 5000 {
		t.Errorf("entry 2 = %+v in %q, %v", got, state, err)
	}
}

// TestOutbox_Lifecycle walks entries through delivery, failure, death and
// retry.
func TestOutbox_Lifecycle(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	outboxAt(t, s, "c1", 1000, 1000, 1000, 1000) // entries 1..4

	// Delivered: gone, and deleting again is harmless.
	for range 2 {
		if err := s.DeleteOutbox(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Given up on: dead, out of the pending list and of the due ones.
	for _, id := range []uint64{2, 3} {
		e, _, err := s.OutboxEntryByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		e.Attempts, e.DeadAt, e.LastError = 10, 2000, "connection refused"
		if err := s.MoveToDead(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MoveToDead(ctx, model.OutboxEntry{ID: 2}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("MoveToDead of a dead entry: %v, want ErrNotFound", err)
	}
	if err := s.UpdateOutbox(ctx, model.OutboxEntry{ID: 1}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("UpdateOutbox of a delivered entry: %v, want ErrNotFound", err)
	}
	if got := entryIDs(mustList(t, s, model.OutboxPending)); !slices.Equal(got, []uint64{4}) {
		t.Errorf("pending = %v, want [4]", got)
	}
	dead := mustList(t, s, model.OutboxDead)
	if got := entryIDs(dead); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("dead = %v, want [2 3]", got)
	}
	if dead[0].Attempts != 10 || dead[0].LastError != "connection refused" || dead[0].DeadAt != 2000 {
		t.Errorf("dead entry = %+v", dead[0])
	}
	pump(t, s)
	if due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(1<<40), upTo(10)); !slices.Equal(entryIDs(due), []uint64{4}) {
		t.Errorf("due = %v, want [4]", entryIDs(due))
	}
	if p, d := mustDepth(t, s); p != 1 || d != 2 {
		t.Errorf("depth = %d, %d; want 1, 2", p, d)
	}

	// Retried by hand: pending again under the same id, attempts reset, due now.
	e, err := s.RetryDead(ctx, 3, time.UnixMilli(5000))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != 3 || e.Attempts != 0 || e.DeadAt != 0 || e.NextAt != 5000 || e.LastError != "connection refused" {
		t.Errorf("retried entry = %+v", e)
	}
	if _, state, _ := s.OutboxEntryByID(ctx, 3); state != model.OutboxPending {
		t.Errorf("retried entry is %q, want pending", state)
	}
	// A pending one is made due now and keeps its attempts.
	e4, _, _ := s.OutboxEntryByID(ctx, 4)
	e4.Attempts, e4.NextAt = 3, 1<<40
	if err := s.UpdateOutbox(ctx, e4); err != nil {
		t.Fatal(err)
	}
	if e, err := s.RetryDead(ctx, 4, time.UnixMilli(6000)); err != nil || e.Attempts != 3 || e.NextAt != 6000 {
		t.Errorf("retry of a pending entry = %+v, %v", e, err)
	}
	pump(t, s)
	due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(6000), upTo(10))
	if got := entryIDs(due); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("due after retries = %v, want [3 4]", got)
	}
	if _, err := s.RetryDead(ctx, 1, time.UnixMilli(6000)); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("retry of a delivered entry: %v, want ErrNotFound", err)
	}
	if _, _, err := s.OutboxEntryByID(ctx, 1); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("OutboxEntryByID(delivered) = %v, want ErrNotFound", err)
	}
	if _, err := s.ListOutbox(ctx, "sent", 0, 10); err == nil {
		t.Error("ListOutbox of an unknown state succeeded")
	}
}

func TestRetryAllDead(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	outboxAt(t, s, "c1", 1, 1, 1, 1, 1)
	for id := uint64(1); id <= 5; id++ {
		if err := s.MoveToDead(ctx, model.OutboxEntry{ID: id, EventID: fmt.Sprint(id), Attempts: 10, DeadAt: 2}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []int{2, 2, 1, 0} {
		n, err := s.RetryAllDead(ctx, time.UnixMilli(100), 2)
		if err != nil || n != want {
			t.Fatalf("RetryAllDead = %d, %v; want %d", n, err, want)
		}
	}
	pump(t, s)
	due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(100), upTo(10))
	if got := entryIDs(due); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("due = %v, want all five", got)
	}
	for _, e := range due {
		if e.Attempts != 0 || e.DeadAt != 0 {
			t.Errorf("retried entry %+v", e)
		}
	}
}

func TestListOutbox_Pages(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	outboxAt(t, s, "c1", 1, 2, 3, 4, 5)
	var all []uint64
	for after := uint64(0); ; {
		page, err := s.ListOutbox(ctx, model.OutboxPending, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, entryIDs(page)...)
		after = page[len(page)-1].ID
	}
	if !slices.Equal(all, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("pages = %v", all)
	}
	if page, err := s.ListOutbox(ctx, model.OutboxPending, ^uint64(0), 2); err != nil || len(page) != 0 {
		t.Errorf("page after the last id = %v, %v", page, err)
	}
}

// TestOutbox_Reopen: entries survive a restart, and new ids follow the old
// ones, including dead ones: an id is never given twice.
func TestOutbox_Reopen(t *testing.T) {
	s, path := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	outboxAt(t, s, "c1", 1, 2, 3)
	if err := s.MoveToDead(ctx, model.OutboxEntry{ID: 3, EventID: "c1:3"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openOutboxStore(t, path)
	if got := eventIDs(mustList(t, s, model.OutboxPending)); !slices.Equal(got, []string{"c1:1", "c1:2"}) {
		t.Errorf("pending after reopen = %v", got)
	}
	if got := eventIDs(mustList(t, s, model.OutboxDead)); !slices.Equal(got, []string{"c1:3"}) {
		t.Errorf("dead after reopen = %v", got)
	}
	outboxAt(t, s, "c1", 4)
	if got := entryIDs(mustList(t, s, model.OutboxPending)); !slices.Equal(got, []uint64{1, 2, 4}) {
		t.Errorf("ids after reopen = %v, want [1 2 4]", got)
	}
}

// TestOutbox_ConcurrentWriters: many writers at once, each appended event
// gets exactly one entry and every entry id is distinct.
func TestOutbox_ConcurrentWriters(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	const chats, msgs = 8, 25
	for i := range chats {
		mustCreateChat(t, s, fmt.Sprint("c", i))
	}
	var wg sync.WaitGroup
	for i := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range msgs {
				if _, _, _, err := s.Mutate(ctx, fmt.Sprint("c", i), "", appendFn(message(fmt.Sprint(j)))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	list := mustList(t, s, model.OutboxPending)
	if len(list) != chats*msgs {
		t.Fatalf("%d entries, want %d", len(list), chats*msgs)
	}
	seen := map[string]bool{}
	for i, e := range list {
		if e.ID != uint64(i+1) || seen[e.EventID] {
			t.Fatalf("entry %d: id %d, event %s (seen %v)", i, e.ID, e.EventID, seen[e.EventID])
		}
		seen[e.EventID] = true
	}
}

// TestOutboxDepth_Counts: the counts OutboxDepth keeps without a transaction
// match the buckets through writes, deliveries, dead moves, retries,
// pruning, a batch retried after one of its writes failed, and a reopen.
func TestOutboxDepth_Counts(t *testing.T) {
	s, path := newOutboxStore(t)
	ctx := context.Background()
	check := func(step string, wantPending, wantDead int) {
		t.Helper()
		p, d := mustDepth(t, s)
		inPending, inDead := len(mustList(t, s, model.OutboxPending)), len(mustList(t, s, model.OutboxDead))
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
	outboxAt(t, s, "c1", 1, 1, 1, 1, 1, 1) // entries 1..6
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
	outboxAt(t, s, "c1", 1)
	check("written after reopen", 3, 1)
}

// TestPruneDead: the expired dead entries go, whatever their id; then the
// oldest beyond keep; pending entries stay. An entry retried and dead again
// between PruneDead's read and its write is judged by its new time.
func TestPruneDead(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	outboxAt(t, s, "c1", 1, 1, 1, 1, 1, 1, 1) // entries 1..7; 7 stays pending
	for id, at := range map[uint64]int64{1: 5000, 2: 1000, 3: 6000, 4: 2000, 5: 7000, 6: 8000} {
		if err := s.MoveToDead(ctx, model.OutboxEntry{ID: id, DeadAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	prune := func(before int64, keep, wantRemoved int, wantDead ...uint64) {
		t.Helper()
		n, err := s.PruneDead(ctx, time.UnixMilli(before), keep)
		if err != nil || n != wantRemoved {
			t.Fatalf("PruneDead(%d, %d) = %d, %v; want %d", before, keep, n, err, wantRemoved)
		}
		if got := entryIDs(mustList(t, s, model.OutboxDead)); !slices.Equal(got, append([]uint64{}, wantDead...)) {
			t.Fatalf("after PruneDead(%d, %d): dead %v, want %v", before, keep, got, wantDead)
		}
	}
	// 2 and 4 expired; of 1, 3, 5, 6 the lowest id goes.
	prune(3000, 3, 3, 3, 5, 6)
	prune(3000, 3, 0, 3, 5, 6)
	prune(7000, -1, 1, 5, 6) // DeadAt 7000 is not before 7000
	if p, d := mustDepth(t, s); p != 1 || d != 2 {
		t.Errorf("depth %d, %d; want 1, 2", p, d)
	}

	// 5 and 6 are expired when PruneDead reads them; before its write
	// commits, 5 is retried and dies again, later.
	release := holdWriter(t, s, "c1")
	errs := make(chan error, 3)
	for i, write := range []func() error{
		func() error { _, err := s.RetryDead(ctx, 5, time.UnixMilli(9000)); return err },
		func() error { return s.MoveToDead(ctx, model.OutboxEntry{ID: 5, DeadAt: 9500}) },
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
	if got := entryIDs(mustList(t, s, model.OutboxDead)); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("dead %v, want [5]", got)
	}
	prune(0, 0, 1)
	if p, d := mustDepth(t, s); p != 1 || d != 0 {
		t.Errorf("depth %d, %d; want 1, 0", p, d)
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
	pumpWith(t, s, outboxTo)
}

// TestPendingOutbox_PerSubscription: PendingOutbox takes of each
// subscription as many due entries as it is asked for, none of one asked for
// none, however many it has, and sorts what it took by due time; next only
// looks at the subscriptions it read.
func TestPendingOutbox_PerSubscription(t *testing.T) {
	s, _ := newOutboxStore(t)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	var busy []string
	for at := range 300 {
		busy = append(busy, fmt.Sprint("busy@", at+1))
	}
	appendTo(t, s, "c1", busy...) // 1..300
	// "ab" is not "a" with more: a subscription is its whole id.
	appendTo(t, s, "c1", "a@500", "a@600", "a@5000", "b@400", "b@3000", "ab@450") // 301..306

	tests := []struct {
		name     string
		want     map[string]int
		wantIDs  []uint64
		wantNext int64
	}{
		{"BusySkipped", map[string]int{"a": 1, "b": 1, "ab": 1}, []uint64{304, 306, 301}, 3000},
		{"OnlyBusy", map[string]int{"busy": 2}, []uint64{1, 2}, 0},
		{"Some", map[string]int{"busy": 3, "a": 5, "ab": 1}, []uint64{1, 2, 3, 306, 301, 302}, 5000},
		{"None", map[string]int{}, []uint64{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			asked := map[string]int{}
			due, next, err := s.PendingOutbox(ctx, time.UnixMilli(1000), func(sub string) int {
				asked[sub]++
				return tc.want[sub]
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := entryIDs(due); !slices.Equal(got, tc.wantIDs) {
				t.Errorf("due = %v, want %v", got, tc.wantIDs)
			}
			if got := next.UnixMilli(); next.IsZero() && tc.wantNext != 0 || !next.IsZero() && got != tc.wantNext {
				t.Errorf("next = %v, want %d ms", next, tc.wantNext)
			}
			if want := map[string]int{"busy": 1, "a": 1, "b": 1, "ab": 1}; !maps.Equal(asked, want) {
				t.Errorf("asked %v, want each subscription once", asked)
			}
		})
	}
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
	pump(t, s)
	due, next, err := s.PendingOutbox(ctx, time.UnixMilli(1000), upTo(10))
	if err != nil {
		t.Fatal(err)
	}
	if got := entryIDs(due); !slices.Equal(got, []uint64{2, 3, 1}) || !next.IsZero() {
		t.Fatalf("due after migration = %v, next %v; want [2 3 1], none", got, next)
	}
	if p, d := mustDepth(t, s); p != 3 || d != 1 {
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
	pump(t, s)
	due, next, err = s.PendingOutbox(ctx, time.UnixMilli(1000), upTo(10))
	if got := entryIDs(due); err != nil || !slices.Equal(got, []uint64{1, 4}) || next.UnixMilli() != 6000 {
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
	if got := eventIDs(mustList(t, s, model.OutboxPending)); !slices.Contains(got, "c1:2") {
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
