package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
)

// Feed is a store's change feed, which Pump drains: both stores are one,
// so their own tests use the helpers below too.
type Feed interface {
	Changes(ctx context.Context, limit int) (out []model.Change, events [][]model.Event, err error)
	ConsumeChanges(ctx context.Context, through uint64, entries []model.OutboxEntry) error
}

// Outbox is a store's change feed and the outbox it fills.
type Outbox interface {
	Feed
	ListOutbox(ctx context.Context, state model.OutboxState, after uint64, limit int) ([]model.OutboxEntry, error)
}

// OutboxPerEvent makes one entry per appended event, its EventID
// "<chat>:<seq>", due at the event's time.
func OutboxPerEvent(c *model.Chat, evs []model.Event) []model.OutboxEntry {
	var out []model.OutboxEntry
	for _, ev := range evs {
		out = append(out, model.OutboxEntry{Subscription: "hook-1", Event: string(ev.Type),
			EventID: fmt.Sprintf("%s:%d", c.ID, ev.Seq), Body: []byte(`{"text":"` + ev.Text + `"}`),
			CreatedAt: ev.Time, NextAt: ev.Time})
	}
	return out
}

// Pump consumes the change feed into OutboxPerEvent's entries, as the
// webhooks service does.
func Pump(t testing.TB, s Feed) { t.Helper(); PumpWith(t, s, OutboxPerEvent) }

// PumpWith consumes the change feed into the entries outbox makes.
func PumpWith(t testing.TB, s Feed, outbox func(c *model.Chat, evs []model.Event) []model.OutboxEntry) {
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

// MustList pumps the feed and lists the outbox's entries in state.
func MustList(t testing.TB, s Outbox, state model.OutboxState) []model.OutboxEntry {
	t.Helper()
	Pump(t, s)
	list, err := s.ListOutbox(context.Background(), state, 0, 1000)
	if err != nil {
		t.Fatalf("list %s: %v", state, err)
	}
	return list
}

// EventIDs are the EventIDs of list, in its order.
func EventIDs(list []model.OutboxEntry) []string {
	out := []string{}
	for _, e := range list {
		out = append(out, e.EventID)
	}
	return out
}

// EntryIDs are the ids of list, in its order.
func EntryIDs(list []model.OutboxEntry) []uint64 {
	out := []uint64{}
	for _, e := range list {
		out = append(out, e.ID)
	}
	return out
}

// MustDepth pumps the feed and counts the outbox's pending and dead
// entries.
func MustDepth(t testing.TB, s interface {
	Feed
	OutboxDepth(ctx context.Context) (pending, dead int, err error)
}) (pending, dead int) {
	t.Helper()
	Pump(t, s)
	pending, dead, err := s.OutboxDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pending, dead
}

// OutboxAt appends one event per time in ms to chat c, each making an entry
// due at that time, and pumps the feed.
func OutboxAt(t testing.TB, s interface {
	Feed
	Mutate(ctx context.Context, id, requestID string, fn model.MutateFunc) (c model.Chat, evs []model.Event, replayed bool, err error)
}, chatID string, times ...int64) {
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
	Pump(t, s)
}

// openWithChat opens a store with the feed on and chat c1, whose first
// event's entry is delivered: the entries of later appends are 2, 3, ...
func openWithChat(t testing.TB, b Backend) (Store, string) {
	t.Helper()
	s, dir := openOutbox(t, b)
	mustCreateChat(t, s, "c1")
	Pump(t, s)
	if err := s.DeleteOutbox(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// upTo wants n entries of every subscription.
func upTo(n int) func(string) int { return func(string) int { return n } }

// outboxTo makes one entry per appended event for the subscription its text
// names, due when it says: "<subscription>@<due ms>".
func outboxTo(c *model.Chat, evs []model.Event) []model.OutboxEntry {
	var out []model.OutboxEntry
	for _, ev := range evs {
		sub, at, ok := strings.Cut(ev.Text, "@")
		if !ok {
			continue
		}
		ms, _ := strconv.ParseInt(at, 10, 64)
		out = append(out, model.OutboxEntry{Subscription: sub, Event: string(ev.Type),
			EventID: fmt.Sprintf("%s:%d:%s", c.ID, ev.Seq, sub), CreatedAt: ms, NextAt: ms})
	}
	return out
}

// appendTo appends one event per "<subscription>@<due ms>" to chat c.
func appendTo(t testing.TB, s Store, chatID string, entries ...string) {
	t.Helper()
	var add []model.Event
	for _, e := range entries {
		add = append(add, message(e))
	}
	if _, _, _, err := s.Mutate(context.Background(), chatID, "", appendFn(add...)); err != nil {
		t.Fatal(err)
	}
	PumpWith(t, s, outboxTo)
}

// testOutboxWrittenWithEvents: CreateChat and Mutate write the change rows
// of what they append, and only of that: a replayed request, a refused
// mutation and a mutation that appends nothing write none.
func testOutboxWrittenWithEvents(t *testing.T, b Backend) {
	s, _ := openOutbox(t, b)
	ctx := context.Background()
	if _, _, err := s.CreateChat(ctx, chat("c1", "start-1")); err != nil {
		t.Fatal(err)
	}
	if _, existing, err := s.CreateChat(ctx, chat("c1-again", "start-1")); err != nil || !existing {
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
	list := MustList(t, s, model.OutboxPending)
	if got, want := EventIDs(list), []string{"c1:1", "c1:2", "c1:3"}; !slices.Equal(got, want) {
		t.Fatalf("outbox event ids = %v, want %v", got, want)
	}
	if got, want := EntryIDs(list), []uint64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("outbox ids = %v, want %v", got, want)
	}
	if e := list[1]; string(e.Body) != `{"text":"a"}` || e.Event != string(model.EventMessage) || e.Subscription != "hook-1" {
		t.Errorf("entry 2 = %+v", e)
	}
	if p, d := MustDepth(t, s); p != 3 || d != 0 {
		t.Errorf("depth = %d pending, %d dead; want 3, 0", p, d)
	}
}

func testPendingOutboxDueOrder(t *testing.T, b Backend) {
	s, _ := openWithChat(t, b)
	ctx := context.Background()
	// Entries 2..5, due at 3000, 1000, 2000 and 9000 ms.
	OutboxAt(t, s, "c1", 3000, 1000, 2000, 9000)
	tests := []struct {
		name     string
		now      int64
		limit    int
		wantIDs  []uint64
		wantNext int64 // 0: none
	}{
		{"NoneDue", 999, 10, []uint64{}, 1000},
		{"SomeDue", 2500, 10, []uint64{3, 4}, 3000},
		{"AllDue", 9000, 10, []uint64{3, 4, 2, 5}, 0},
		// Due entries beyond the limit are not next: they are due already.
		{"Limited", 9000, 2, []uint64{3, 4}, 0},
		{"LimitedSomeDue", 2500, 1, []uint64{3}, 3000},
		{"NoneWanted", 9000, 0, []uint64{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			due, next, err := s.PendingOutbox(ctx, time.UnixMilli(tc.now), upTo(tc.limit))
			if err != nil {
				t.Fatal(err)
			}
			if got := EntryIDs(due); !slices.Equal(got, tc.wantIDs) {
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
	due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(1000), upTo(1))
	e := due[0]
	e.Attempts, e.NextAt, e.LastError, e.LastStatus = 1, 5000, "503 Service Unavailable", 503
	if err := s.UpdateOutbox(ctx, e); err != nil {
		t.Fatal(err)
	}
	due, next, err := s.PendingOutbox(ctx, time.UnixMilli(4000), upTo(10))
	if err != nil {
		t.Fatal(err)
	}
	if got := EntryIDs(due); !slices.Equal(got, []uint64{4, 2}) || !next.Equal(time.UnixMilli(5000)) {
		t.Errorf("after reschedule: due %v, next %v; want [4 2], 5000 ms", got, next.UnixMilli())
	}
	got, state, err := s.OutboxEntryByID(ctx, 3)
	if err != nil || state != model.OutboxPending || got.Attempts != 1 || got.LastStatus != 503 || got.NextAt != 5000 || got.ID != 3 {
		t.Errorf("entry 3 = %+v in %q, %v", got, state, err)
	}
}

// testOutboxLifecycle walks entries through delivery, failure, death and
// retry.
func testOutboxLifecycle(t *testing.T, b Backend) {
	s, _ := openWithChat(t, b)
	ctx := context.Background()
	OutboxAt(t, s, "c1", 1000, 1000, 1000, 1000) // entries 2..5
	for range 2 {
		if err := s.DeleteOutbox(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []uint64{3, 4} {
		e, _, err := s.OutboxEntryByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		e.Attempts, e.DeadAt, e.LastError = 10, 2000, "connection refused"
		if err := s.MoveToDead(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MoveToDead(ctx, model.OutboxEntry{ID: 3}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("MoveToDead of a dead entry: %v, want ErrNotFound", err)
	}
	if err := s.UpdateOutbox(ctx, model.OutboxEntry{ID: 2}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("UpdateOutbox of a delivered entry: %v, want ErrNotFound", err)
	}
	if err := s.DeleteOutbox(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := EntryIDs(MustList(t, s, model.OutboxPending)); !slices.Equal(got, []uint64{5}) {
		t.Errorf("pending = %v, want [5]", got)
	}
	dead := MustList(t, s, model.OutboxDead)
	if got := EntryIDs(dead); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("dead = %v, want [3 4] (deleting a dead entry does nothing)", got)
	}
	if dead[0].Attempts != 10 || dead[0].LastError != "connection refused" || dead[0].DeadAt != 2000 {
		t.Errorf("dead entry = %+v", dead[0])
	}
	if due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(1<<40), upTo(10)); !slices.Equal(EntryIDs(due), []uint64{5}) {
		t.Errorf("due = %v, want [5]", EntryIDs(due))
	}
	if p, d := MustDepth(t, s); p != 1 || d != 2 {
		t.Errorf("depth = %d, %d; want 1, 2", p, d)
	}
	e, err := s.RetryDead(ctx, 4, time.UnixMilli(5000))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != 4 || e.Attempts != 0 || e.DeadAt != 0 || e.NextAt != 5000 || e.LastError != "connection refused" {
		t.Errorf("retried entry = %+v", e)
	}
	if _, state, _ := s.OutboxEntryByID(ctx, 4); state != model.OutboxPending {
		t.Errorf("retried entry is %q, want pending", state)
	}
	e5, _, _ := s.OutboxEntryByID(ctx, 5)
	e5.Attempts, e5.NextAt = 3, 1<<40
	if err := s.UpdateOutbox(ctx, e5); err != nil {
		t.Fatal(err)
	}
	if e, err := s.RetryDead(ctx, 5, time.UnixMilli(6000)); err != nil || e.Attempts != 3 || e.NextAt != 6000 {
		t.Errorf("retry of a pending entry = %+v, %v", e, err)
	}
	due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(6000), upTo(10))
	if got := EntryIDs(due); !slices.Equal(got, []uint64{4, 5}) {
		t.Errorf("due after retries = %v, want [4 5]", got)
	}
	if _, err := s.RetryDead(ctx, 2, time.UnixMilli(6000)); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("retry of a delivered entry: %v, want ErrNotFound", err)
	}
	if _, _, err := s.OutboxEntryByID(ctx, 2); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("OutboxEntryByID(delivered) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.OutboxEntryByID(ctx, ^uint64(0)); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("OutboxEntryByID(max) = %v, want ErrNotFound", err)
	}
	if _, err := s.ListOutbox(ctx, "sent", 0, 10); err == nil {
		t.Error("ListOutbox of an unknown state succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.OutboxDepth(ctx); !errors.Is(err, model.ErrClosed) {
		t.Errorf("OutboxDepth after Close = %v, want ErrClosed", err)
	}
}

func testRetryAllDead(t *testing.T, b Backend) {
	s, _ := openWithChat(t, b)
	ctx := context.Background()
	OutboxAt(t, s, "c1", 1, 1, 1, 1, 1) // 2..6
	for id := uint64(2); id <= 6; id++ {
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
	due, _, _ := s.PendingOutbox(ctx, time.UnixMilli(100), upTo(10))
	if got := EntryIDs(due); !slices.Equal(got, []uint64{2, 3, 4, 5, 6}) {
		t.Errorf("due = %v, want all five", got)
	}
	for _, e := range due {
		if e.Attempts != 0 || e.DeadAt != 0 || e.NextAt != 100 {
			t.Errorf("retried entry %+v", e)
		}
	}
}

func testListOutboxPages(t *testing.T, b Backend) {
	s, _ := openOutbox(t, b)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	OutboxAt(t, s, "c1", 1, 2, 3, 4)
	var all []uint64
	for after := uint64(0); ; {
		page, err := s.ListOutbox(ctx, model.OutboxPending, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, EntryIDs(page)...)
		after = page[len(page)-1].ID
	}
	if !slices.Equal(all, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("pages = %v", all)
	}
	if page, err := s.ListOutbox(ctx, model.OutboxPending, ^uint64(0), 2); err != nil || len(page) != 0 {
		t.Errorf("page after the last id = %v, %v", page, err)
	}
}

// testOutboxReopen: entries survive a restart, and new ids follow the old
// ones, including dead ones.
func testOutboxReopen(t *testing.T, b Backend) {
	s, dir := openOutbox(t, b)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	OutboxAt(t, s, "c1", 1, 2)
	if err := s.MoveToDead(ctx, model.OutboxEntry{ID: 3, EventID: "c1:3"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, b, dir)
	s.SetChangeFeed(true)
	if got := EventIDs(MustList(t, s, model.OutboxPending)); !slices.Equal(got, []string{"c1:1", "c1:2"}) {
		t.Errorf("pending after reopen = %v", got)
	}
	if got := EventIDs(MustList(t, s, model.OutboxDead)); !slices.Equal(got, []string{"c1:3"}) {
		t.Errorf("dead after reopen = %v", got)
	}
	OutboxAt(t, s, "c1", 4)
	if got := EntryIDs(MustList(t, s, model.OutboxPending)); !slices.Equal(got, []uint64{1, 2, 4}) {
		t.Errorf("ids after reopen = %v, want [1 2 4]", got)
	}
}

// testOutboxConcurrentWriters: many writers on two gateways at once, and
// both consuming the feed: each appended event gets exactly one entry.
func testOutboxConcurrentWriters(t *testing.T, b Backend) {
	a, dir := openOutbox(t, b)
	other := a // a second store on the same data, where the backend allows one
	if b.Shared {
		other = reopen(t, b, dir)
		other.SetChangeFeed(true)
	}
	ctx := context.Background()
	const writers, n = 8, 20
	for w := range writers {
		mustCreateChat(t, a, fmt.Sprint("w", w))
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := []Store{a, other}[w%2]
			for i := range n {
				if _, _, _, err := s.Mutate(ctx, fmt.Sprint("w", w), "", appendFn(message(fmt.Sprint(i)))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A consumer that follows the feed while the writes go on.
	stop := make(chan struct{})
	var consumer sync.WaitGroup
	consumer.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-a.ChangeFeedSignal():
				Pump(t, a)
			}
		}
	})
	wg.Wait()
	close(stop)
	consumer.Wait()
	list := MustList(t, a, model.OutboxPending)
	seen := map[string]bool{}
	for _, e := range list {
		if seen[e.EventID] {
			t.Fatalf("event %s has two entries", e.EventID)
		}
		seen[e.EventID] = true
	}
	if len(seen) != writers*(n+1) {
		t.Fatalf("%d entries, want %d", len(seen), writers*(n+1))
	}
}

// testPruneDead: the expired dead entries go, whatever their id; then the
// oldest beyond keep; pending entries stay. An entry retried and dead again
// between PruneDead's read and its write is judged by its new time.
func testPruneDead(t *testing.T, b Backend) {
	s, _ := openWithChat(t, b)
	ctx := context.Background()
	OutboxAt(t, s, "c1", 1, 1, 1, 1, 1, 1, 1) // 2..8; 8 stays pending
	for id, at := range map[uint64]int64{2: 5000, 3: 1000, 4: 6000, 5: 2000, 6: 7000, 7: 8000} {
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
		if got := EntryIDs(MustList(t, s, model.OutboxDead)); !slices.Equal(got, append([]uint64{}, wantDead...)) {
			t.Fatalf("after PruneDead(%d, %d): dead %v, want %v", before, keep, got, wantDead)
		}
	}
	// 3 and 5 expired; of 2, 4, 6, 7 the lowest id goes.
	prune(3000, 3, 3, 4, 6, 7)
	prune(3000, 3, 0, 4, 6, 7)
	prune(7000, -1, 1, 6, 7) // DeadAt 7000 is not before 7000
	if p, d := MustDepth(t, s); p != 1 || d != 2 {
		t.Errorf("depth %d, %d; want 1, 2", p, d)
	}
	prune(0, 0, 2)
	if p, d := MustDepth(t, s); p != 1 || d != 0 {
		t.Errorf("depth %d, %d; want 1, 0", p, d)
	}
}

// testPendingOutboxPerSubscription: PendingOutbox takes of each
// subscription as many due entries as it is asked for, none of one asked for
// none, however many it has, and sorts what it took by due time; next only
// looks at the subscriptions it read.
func testPendingOutboxPerSubscription(t *testing.T, b Backend) {
	s, _ := openOutbox(t, b)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	PumpWith(t, s, outboxTo) // the start's event makes no entry
	var busy []string
	for at := range 300 {
		busy = append(busy, fmt.Sprint("busy@", at+1))
	}
	appendTo(t, s, "c1", busy...)                                                 // 1..300
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
			if got := EntryIDs(due); !slices.Equal(got, tc.wantIDs) {
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
