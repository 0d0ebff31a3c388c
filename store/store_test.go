package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/storetest"
)

// newTestStore opens a store in a fresh temp dir; see openTestStore.
func newTestStore(t testing.TB, opts store.Options) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cxgate.db")
	return openTestStore(t, path, opts), path
}

// newFollowedStore is newTestStore with a follower that hands every
// committed batch to record before answering its writes.
func newFollowedStore(t testing.TB, record func([]model.Committed)) (*store.Store, string) {
	t.Helper()
	s, path := newTestStore(t, store.Options{})
	follow(t, s, record)
	return s, path
}

// follow hands s's commits to record, in commit order, until s closes.
func follow(t testing.TB, s *store.Store, record func([]model.Committed)) {
	t.Helper()
	commits, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for b := range commits {
			if len(b.Writes) > 0 {
				record(b.Writes)
			}
			b.Done()
		}
	}()
}

// openTestStore opens the store at path. Cleanup runs bbolt's consistency
// check (unless the test closed the store itself) and closes it.
func openTestStore(t testing.TB, path string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, model.ErrClosed) {
			t.Errorf("bbolt consistency: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		<-tick.C
	}
}

func message(text string) model.Event {
	return model.Event{Type: model.EventMessage, From: model.Party{ID: "v1", Type: model.PartyClient}, Text: text, Time: 1_700_000_000_000}
}

func testChat(id, deployment string) model.Chat {
	return model.Chat{ID: id, Deployment: deployment, Mode: "live", State: model.StateQueued, IdentityID: "idn-" + id, CreatedAt: 1_700_000_000_000}
}

func mustCreateChat(t testing.TB, s *store.Store, id string) model.Chat {
	t.Helper()
	c, existing, err := s.CreateChat(context.Background(), model.NewChat{Chat: testChat(id, "dep"), TokenHash: model.HashToken("tok-" + id)})
	if err != nil {
		t.Fatalf("create chat %s: %v", id, err)
	}
	if existing {
		t.Fatalf("create chat %s: existing = true, want false", id)
	}
	return c
}

// appendFn returns a MutateFunc that appends evs.
func appendFn(evs ...model.Event) model.MutateFunc {
	return func(*model.Chat) ([]model.Event, error) { return evs, nil }
}

func mustAppend(t testing.TB, s *store.Store, chatID string, texts ...string) (model.Chat, []model.Event) {
	t.Helper()
	var add []model.Event
	for _, text := range texts {
		add = append(add, message(text))
	}
	c, evs, replayed, err := s.Mutate(context.Background(), chatID, "", appendFn(add...))
	if err != nil {
		t.Fatalf("append to %s: %v", chatID, err)
	}
	if replayed {
		t.Fatalf("append to %s: replayed without a request id", chatID)
	}
	return c, evs
}

func mustChat(t testing.TB, s *store.Store, id string) model.Chat {
	t.Helper()
	c, err := s.Chat(context.Background(), id)
	if err != nil {
		t.Fatalf("chat %s: %v", id, err)
	}
	return c
}

func mustEventsAfter(t testing.TB, s *store.Store, chatID string, after uint64, limit int) []model.Event {
	t.Helper()
	evs, err := s.EventsAfter(context.Background(), chatID, after, limit)
	if err != nil {
		t.Fatalf("events after %d of %s: %v", after, chatID, err)
	}
	return evs
}

func seqs(evs []model.Event) []uint64 {
	out := make([]uint64, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}

// seqRange returns from..to inclusive; empty when from > to.
func seqRange(from, to uint64) []uint64 {
	out := []uint64{}
	for seq := from; seq <= to; seq++ {
		out = append(out, seq)
	}
	return out
}

// holdWriter makes the writer goroutine wait inside a transaction until
// release is called (also at cleanup), so that writes submitted meanwhile
// queue up and are committed together.
func holdWriter(t testing.TB, s *store.Store, chatID string) (release func()) {
	t.Helper()
	gate, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, _, _, err := s.Mutate(context.Background(), chatID, "", func(*model.Chat) ([]model.Event, error) {
			once.Do(func() { close(entered) })
			<-gate
			return nil, nil
		})
		done <- err
	}()
	<-entered
	var released sync.Once
	release = func() {
		released.Do(func() {
			close(gate)
			if err := <-done; err != nil {
				t.Errorf("holding write: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

func TestMutate_SeqsWithoutGaps(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	ctx := context.Background()

	c, existing, err := s.CreateChat(ctx, model.NewChat{
		Chat:      testChat("c1", "dep"),
		TokenHash: model.HashToken("tok"),
		Events:    []model.Event{{Type: model.EventNotice, Text: "queued", Time: 5}, message("hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if existing {
		t.Fatal("existing = true for a new chat")
	}
	if got, want := c.LastSeq, uint64(2); got != want {
		t.Fatalf("LastSeq after create = %d, want %d", got, want)
	}

	want := uint64(2)
	for i := range 20 {
		texts := make([]string, i%3+1) // 1, 2 or 3 events per write
		for j := range texts {
			texts[j] = fmt.Sprintf("m%d.%d", i, j)
		}
		c, evs := mustAppend(t, s, "c1", texts...)
		if got, wantSeqs := seqs(evs), seqRange(want+1, want+uint64(len(texts))); !slices.Equal(got, wantSeqs) {
			t.Fatalf("write %d: seqs = %v, want %v", i, got, wantSeqs)
		}
		want += uint64(len(texts))
		if c.LastSeq != want {
			t.Fatalf("write %d: returned LastSeq = %d, want %d", i, c.LastSeq, want)
		}
		if got := mustChat(t, s, "c1").LastSeq; got != want {
			t.Fatalf("write %d: stored LastSeq = %d, want %d", i, got, want)
		}
	}

	evs := mustEventsAfter(t, s, "c1", 0, 1000)
	if got, wantSeqs := seqs(evs), seqRange(1, want); !slices.Equal(got, wantSeqs) {
		t.Fatalf("stored seqs = %v, want %v", got, wantSeqs)
	}
	if got, want := evs[1].Text, "hello"; got != want {
		t.Errorf("event 2 text = %q, want %q", got, want)
	}
	if got, want := evs[len(evs)-1].Text, "m19.1"; got != want {
		t.Errorf("last event text = %q, want %q", got, want)
	}
}

func TestMutate_IgnoresIDAndLastSeqChanges(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")
	mustAppend(t, s, "c1", "a", "b")

	c, _, _, err := s.Mutate(context.Background(), "c1", "", func(c *model.Chat) ([]model.Event, error) {
		c.ID, c.LastSeq, c.Subject = "other", 99, "changed"
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c1" || c.LastSeq != 2 || c.Subject != "changed" {
		t.Fatalf("chat = {ID:%q LastSeq:%d Subject:%q}, want {c1 2 changed}", c.ID, c.LastSeq, c.Subject)
	}
	if got := mustChat(t, s, "c1"); got.LastSeq != 2 || got.Subject != "changed" {
		t.Fatalf("stored chat = {LastSeq:%d Subject:%q}, want {2 changed}", got.LastSeq, got.Subject)
	}
	if _, err := s.Chat(context.Background(), "other"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("chat other: err = %v, want ErrNotFound", err)
	}
	_, evs := mustAppend(t, s, "c1", "c")
	if got := seqs(evs); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("next seqs = %v, want [3]", got)
	}
}

func TestEventsAfter(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")
	mustCreateChat(t, s, "empty")
	for i := range 10 {
		mustAppend(t, s, "c1", fmt.Sprint(i+1))
	}

	for _, tc := range []struct {
		name  string
		chat  string
		after uint64
		limit int
		want  []uint64
	}{
		{"FromStart", "c1", 0, 100, seqRange(1, 10)},
		{"Limit", "c1", 0, 3, seqRange(1, 3)},
		{"Middle", "c1", 4, 3, seqRange(5, 7)},
		{"LimitPastEnd", "c1", 8, 100, seqRange(9, 10)},
		{"AfterLast", "c1", 10, 100, seqRange(1, 0)},
		{"AfterBeyondLast", "c1", 1000, 100, seqRange(1, 0)},
		{"AfterMaxUint64", "c1", math.MaxUint64, 100, seqRange(1, 0)},
		{"ZeroLimit", "c1", 0, 0, seqRange(1, 0)},
		{"NegativeLimit", "c1", 0, -1, seqRange(1, 0)},
		{"EmptyChat", "empty", 0, 100, seqRange(1, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := mustEventsAfter(t, s, tc.chat, tc.after, tc.limit)
			if got := seqs(evs); !slices.Equal(got, tc.want) {
				t.Fatalf("seqs = %v, want %v", got, tc.want)
			}
			for _, ev := range evs {
				if got, want := ev.Text, fmt.Sprint(ev.Seq); got != want {
					t.Errorf("event %d text = %q, want %q", ev.Seq, got, want)
				}
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := s.EventsAfter(context.Background(), "nope", 0, 10); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestEventsBefore(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")
	mustCreateChat(t, s, "empty")
	for i := range 10 {
		mustAppend(t, s, "c1", fmt.Sprint(i+1))
	}

	for _, tc := range []struct {
		name   string
		chat   string
		before uint64
		limit  int
		want   []uint64
	}{
		{"FromEnd", "c1", 0, 100, seqRange(1, 10)},
		{"FromEndLimit", "c1", 0, 3, seqRange(8, 10)},
		{"BeforeLast", "c1", 10, 3, seqRange(7, 9)},
		{"BeforePastEnd", "c1", 11, 3, seqRange(8, 10)},
		{"BeforeFarPastEnd", "c1", math.MaxUint64, 3, seqRange(8, 10)},
		{"Middle", "c1", 6, 2, seqRange(4, 5)},
		{"LimitPastStart", "c1", 4, 100, seqRange(1, 3)},
		{"Before2", "c1", 2, 100, seqRange(1, 1)},
		{"Before1", "c1", 1, 100, seqRange(1, 0)},
		{"ZeroLimit", "c1", 0, 0, seqRange(1, 0)},
		{"EmptyChat", "empty", 0, 100, seqRange(1, 0)},
		{"EmptyChatBefore", "empty", 5, 100, seqRange(1, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := s.EventsBefore(context.Background(), tc.chat, tc.before, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(evs); !slices.Equal(got, tc.want) {
				t.Fatalf("seqs = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := s.EventsBefore(context.Background(), "nope", 0, 10); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestCreateChat_StartKey(t *testing.T) {
	var commits commitLog
	s, _ := newFollowedStore(t, commits.record)
	ctx := context.Background()
	start := func(id, deployment string) (model.Chat, bool) {
		t.Helper()
		c, existing, err := s.CreateChat(ctx, model.NewChat{
			Chat:      testChat(id, deployment),
			TokenHash: model.HashToken("tok-" + id),
			StartKey:  "req-1",
			Events:    []model.Event{{Type: model.EventNotice, Text: "started"}},
		})
		if err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		return c, existing
	}

	first, existing := start("c1", "dep-a")
	if existing || first.ID != "c1" || first.LastSeq != 1 {
		t.Fatalf("first start = %s (LastSeq %d), existing %v; want c1 (LastSeq 1), false", first.ID, first.LastSeq, existing)
	}
	mustAppend(t, s, "c1", "hello")
	commitsBefore := commits.count()

	t.Run("SameDeployment", func(t *testing.T) {
		again, existing := start("c2", "dep-a") // a retry carries a new server-made id
		if !existing {
			t.Fatal("existing = false on a retried start")
		}
		if again.ID != "c1" || again.LastSeq != 2 {
			t.Fatalf("retried start = %s (LastSeq %d), want c1 (LastSeq 2)", again.ID, again.LastSeq)
		}
		if _, err := s.Chat(ctx, "c2"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("chat c2: err = %v, want ErrNotFound", err)
		}
		if _, err := s.LookupToken(ctx, model.HashToken("tok-c2")); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("token of c2: err = %v, want ErrNotFound", err)
		}
		if got := seqs(mustEventsAfter(t, s, "c1", 0, 100)); !slices.Equal(got, []uint64{1, 2}) {
			t.Errorf("c1 seqs = %v, want [1 2]", got)
		}
		if got := commits.count(); got != commitsBefore {
			t.Errorf("the follower got %d writes, want %d: a retried start writes nothing", got, commitsBefore)
		}
		if got, want := storetest.OpenChatIDs(t, s), []string{"c1"}; !slices.Equal(got, want) {
			t.Errorf("open chats = %v, want %v", got, want)
		}
	})

	t.Run("OtherDeployment", func(t *testing.T) {
		other, existing := start("c3", "dep-b")
		if existing || other.ID != "c3" || other.Deployment != "dep-b" {
			t.Fatalf("start on dep-b = %s on %s, existing %v; want a new chat c3", other.ID, other.Deployment, existing)
		}
		if got, want := storetest.OpenChatIDs(t, s), []string{"c1", "c3"}; !slices.Equal(got, want) {
			t.Errorf("open chats = %v, want %v", got, want)
		}
	})
}

func TestCreateChat_Errors(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	ctx := context.Background()
	mustCreateChat(t, s, "c1")

	t.Run("ErrExists", func(t *testing.T) {
		_, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("c1", "dep"), TokenHash: model.HashToken("other")})
		if !errors.Is(err, model.ErrExists) {
			t.Fatalf("err = %v, want ErrExists", err)
		}
		if _, err := s.LookupToken(ctx, model.HashToken("other")); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("token of the refused chat: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("EmptyID", func(t *testing.T) {
		if _, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("", "dep")}); err == nil {
			t.Fatal("err = nil for an empty chat id")
		}
	})
	t.Run("NoToken", func(t *testing.T) {
		c, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("c2", "dep")})
		if err != nil {
			t.Fatal(err)
		}
		if got := mustChat(t, s, "c2"); got.ID != c.ID {
			t.Fatalf("stored chat id = %q, want %q", got.ID, c.ID)
		}
	})
}

func TestMutate_RequestID(t *testing.T) {
	var commits commitLog
	s, _ := newFollowedStore(t, commits.record)
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	mustCreateChat(t, s, "c2")
	mustAppend(t, s, "c1", "before")

	_, first, replayed, err := s.Mutate(ctx, "c1", "rq-1", appendFn(message("a"), message("b")))
	if err != nil {
		t.Fatal(err)
	}
	if replayed {
		t.Fatal("first write: replayed = true")
	}
	if got, want := seqs(first), []uint64{2, 3}; !slices.Equal(got, want) {
		t.Fatalf("first write seqs = %v, want %v", got, want)
	}
	for _, ev := range first {
		if ev.RequestID != "rq-1" {
			t.Errorf("event %d RequestID = %q, want rq-1", ev.Seq, ev.RequestID)
		}
	}
	mustAppend(t, s, "c1", "after")
	commitsBefore := commits.count()

	t.Run("Replay", func(t *testing.T) {
		called := false
		c, again, replayed, err := s.Mutate(ctx, "c1", "rq-1", func(*model.Chat) ([]model.Event, error) {
			called = true
			return []model.Event{message("dup")}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !replayed {
			t.Fatal("replayed = false")
		}
		if called {
			t.Error("MutateFunc ran on a replay")
		}
		if !slices.EqualFunc(again, first, eventsEqual) {
			t.Fatalf("replayed events = %+v, want %+v", again, first)
		}
		if c.LastSeq != 4 {
			t.Errorf("chat LastSeq = %d, want 4", c.LastSeq)
		}
		if got, want := seqs(mustEventsAfter(t, s, "c1", 0, 100)), seqRange(1, 4); !slices.Equal(got, want) {
			t.Errorf("stored seqs = %v, want %v", got, want)
		}
		if got := commits.count(); got != commitsBefore {
			t.Errorf("the follower got %d writes, want %d: a replay writes nothing", got, commitsBefore)
		}
	})

	t.Run("OtherChat", func(t *testing.T) {
		_, evs, replayed, err := s.Mutate(ctx, "c2", "rq-1", appendFn(message("x")))
		if err != nil {
			t.Fatal(err)
		}
		if replayed || !slices.Equal(seqs(evs), []uint64{1}) {
			t.Fatalf("write on c2 = seqs %v, replayed %v; want [1], false", seqs(evs), replayed)
		}
	})

	t.Run("NoEvents", func(t *testing.T) {
		calls := 0
		fn := func(c *model.Chat) ([]model.Event, error) {
			calls++
			c.Priority++
			return nil, nil
		}
		for i := range 2 {
			c, evs, replayed, err := s.Mutate(ctx, "c1", "rq-prio", fn)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 0 || replayed != (i == 1) || c.Priority != 1 {
				t.Fatalf("write %d = %d events, replayed %v, priority %d; want 0, %v, 1", i, len(evs), replayed, c.Priority, i == 1)
			}
		}
		if calls != 1 {
			t.Fatalf("MutateFunc ran %d times, want 1", calls)
		}
	})
}

func eventsEqual(a, b model.Event) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

var errBoom = errors.New("boom")

func TestMutate_FuncError(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")
	mustAppend(t, s, "c1", "a")

	_, evs, _, err := s.Mutate(context.Background(), "c1", "rq", func(c *model.Chat) ([]model.Event, error) {
		c.Subject = "changed"
		return []model.Event{message("never")}, fmt.Errorf("refused: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want errBoom", err)
	}
	if evs != nil {
		t.Errorf("events = %v, want nil", evs)
	}
	if c := mustChat(t, s, "c1"); c.Subject != "" || c.LastSeq != 1 {
		t.Errorf("stored chat = {Subject:%q LastSeq:%d}, want unchanged {\"\" 1}", c.Subject, c.LastSeq)
	}
	// The request id was not recorded: a retry runs.
	_, evs, replayed, err := s.Mutate(context.Background(), "c1", "rq", appendFn(message("b")))
	if err != nil || replayed || !slices.Equal(seqs(evs), []uint64{2}) {
		t.Fatalf("retry = seqs %v, replayed %v, err %v; want [2], false, nil", seqs(evs), replayed, err)
	}
	if _, _, _, err := s.Mutate(context.Background(), "nope", "", appendFn(message("x"))); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("unknown chat: err = %v, want ErrNotFound", err)
	}
}

// TestMutate_ErrorsInBatch queues writes behind a held writer so that they
// share one transaction: some refused by their MutateFunc, some failing
// after they wrote (an event that cannot be encoded aborts the transaction,
// which is retried without it). Only the good ones land, with seqs in order.
func TestMutate_ErrorsInBatch(t *testing.T) {
	var commits commitLog
	s, _ := newFollowedStore(t, commits.record)
	mustCreateChat(t, s, "c1")
	mustCreateChat(t, s, "c2")
	release := holdWriter(t, s, "c2")
	commitsBefore := s.Stats().Commits

	const n = 60
	kind := func(i int) string { return [...]string{"ok", "refused", "ok", "undecodable"}[i%4] }
	errs := make([]error, n)
	got := make([][]model.Event, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, got[i], _, errs[i] = s.Mutate(context.Background(), "c1", fmt.Sprintf("rq-%d", i), func(*model.Chat) ([]model.Event, error) {
				switch kind(i) {
				case "refused":
					return nil, errBoom
				case "undecodable":
					ev := message("bad")
					ev.Data = json.RawMessage("{not json")
					return []model.Event{message("good part"), ev}, nil
				}
				return []model.Event{message(fmt.Sprint(i))}, nil
			})
		})
	}
	waitFor(t, 10*time.Second, func() bool { return store.QueueLen(s) == n })
	release()
	wg.Wait()

	if got, want := s.Stats().Commits-commitsBefore, uint64(2); got != want {
		t.Errorf("commits = %d, want %d (the held write, then one for the whole batch)", got, want)
	}
	var okSeqs []uint64
	for i := range n {
		switch kind(i) {
		case "ok":
			if errs[i] != nil || len(got[i]) != 1 {
				t.Fatalf("write %d: %d events, err %v; want 1 event", i, len(got[i]), errs[i])
			}
			okSeqs = append(okSeqs, got[i][0].Seq)
		case "refused":
			if !errors.Is(errs[i], errBoom) {
				t.Errorf("write %d: err = %v, want errBoom", i, errs[i])
			}
		case "undecodable":
			var jerr *json.MarshalerError
			if !errors.As(errs[i], &jerr) {
				t.Errorf("write %d: err = %v, want a *json.MarshalerError", i, errs[i])
			}
		}
	}
	slices.Sort(okSeqs)
	if want := seqRange(1, uint64(n/2)); !slices.Equal(okSeqs, want) {
		t.Fatalf("acknowledged seqs = %v, want %v", okSeqs, want)
	}
	stored := mustEventsAfter(t, s, "c1", 0, 1000)
	if got, want := seqs(stored), seqRange(1, uint64(n/2)); !slices.Equal(got, want) {
		t.Fatalf("stored seqs = %v, want %v", got, want)
	}
	for _, ev := range stored {
		if ev.Text == "good part" || ev.Text == "bad" {
			t.Errorf("event %d %q from a failed write was stored", ev.Seq, ev.Text)
		}
	}
	if c := mustChat(t, s, "c1"); c.LastSeq != uint64(n/2) {
		t.Errorf("LastSeq = %d, want %d", c.LastSeq, n/2)
	}
	if got, want := commits.events("c1"), seqRange(1, uint64(n/2)); !slices.Equal(got, want) {
		t.Errorf("the follower seqs = %v, want %v", got, want)
	}
	// A refused write left no request id behind; a failed one neither.
	for _, i := range []int{1, 3} {
		_, _, replayed, err := s.Mutate(context.Background(), "c1", fmt.Sprintf("rq-%d", i), appendFn(message("retry")))
		if err != nil || replayed {
			t.Errorf("retry of write %d: replayed %v, err %v; want a fresh write", i, replayed, err)
		}
	}
}

// commitLog records what the follower receives.
type commitLog struct {
	mu       sync.Mutex
	writes   int
	byChat   map[string][]uint64
	disorder bool // set when a chat's seqs ever went backwards or repeated
}

func (l *commitLog) record(cs []model.Committed) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byChat == nil {
		l.byChat = make(map[string][]uint64)
	}
	for _, c := range cs {
		l.writes++
		for _, ev := range c.Events {
			prev := l.byChat[c.Chat.ID]
			if len(prev) > 0 && ev.Seq <= prev[len(prev)-1] {
				l.disorder = true
			}
			l.byChat[c.Chat.ID] = append(prev, ev.Seq)
		}
	}
}

func (l *commitLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

func (l *commitLog) events(chatID string) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.byChat[chatID])
}

// has reports whether the follower already received seq of chatID.
func (l *commitLog) has(chatID string, seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, found := slices.BinarySearch(l.byChat[chatID], seq)
	return found
}

func TestConcurrentAppends(t *testing.T) {
	const (
		goroutines = 64
		perG       = 200
		chats      = 8
	)
	var commits commitLog
	s, _ := newFollowedStore(t, commits.record)
	for c := range chats {
		mustCreateChat(t, s, fmt.Sprintf("c%d", c))
	}

	acked := make([][]uint64, chats) // per chat, guarded by mu
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				c := (g + i) % chats
				id := fmt.Sprintf("c%d", c)
				_, evs, _, err := s.Mutate(context.Background(), id, "", appendFn(message(fmt.Sprintf("g%d-%d", g, i))))
				if err != nil {
					fail("goroutine %d write %d: %v", g, i, err)
					return
				}
				if len(evs) != 1 {
					fail("goroutine %d write %d: %d events, want 1", g, i, len(evs))
					return
				}
				if !commits.has(id, evs[0].Seq) {
					fail("%s seq %d acknowledged before the follower saw it", id, evs[0].Seq)
				}
				mu.Lock()
				acked[c] = append(acked[c], evs[0].Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		t.FailNow()
	}

	const perChat = goroutines * perG / chats
	want := seqRange(1, perChat)
	for c := range chats {
		id := fmt.Sprintf("c%d", c)
		got := slices.Sorted(slices.Values(acked[c]))
		if !slices.Equal(got, want) {
			t.Errorf("%s: acknowledged seqs are not 1..%d (got %d, first gaps or duplicates hidden in %v...)", id, perChat, len(got), got[:min(len(got), 10)])
		}
		if got := seqs(mustEventsAfter(t, s, id, 0, 2*perChat)); !slices.Equal(got, want) {
			t.Errorf("%s: stored seqs are not 1..%d (got %d)", id, perChat, len(got))
		}
		if got := mustChat(t, s, id).LastSeq; got != perChat {
			t.Errorf("%s: LastSeq = %d, want %d", id, got, perChat)
		}
		if got := commits.events(id); !slices.Equal(got, want) {
			t.Errorf("%s: the follower seqs are not 1..%d exactly once in order (got %d)", id, perChat, len(got))
		}
	}
	if commits.disorder {
		t.Error("the follower saw a chat's seqs out of order")
	}
	st := s.Stats()
	if want := uint64(goroutines*perG + chats); st.Writes != want {
		t.Errorf("Stats().Writes = %d, want %d", st.Writes, want)
	}
	if st.Commits >= st.Writes {
		t.Errorf("Stats().Commits = %d, not below Writes = %d: no group commit", st.Commits, st.Writes)
	}
	t.Logf("%d writes in %d commits (%.1f per commit), busy %v", st.Writes, st.Commits, float64(st.Writes)/float64(st.Commits), st.Busy)
}

func endChat(c *model.Chat) ([]model.Event, error) {
	c.State, c.EndedAt, c.EndedBy = model.StateEnded, 1_700_000_001_000, "visitor"
	return []model.Event{{Type: model.EventChatEnded, From: model.Party{Type: model.PartyClient}}}, nil
}

func TestReopen(t *testing.T) {
	s, path := newTestStore(t, store.Options{})
	ctx := context.Background()
	idn := &model.Identity{ID: "idn-1", Profile: model.Profile{Nickname: "Ann"}, CreatedAt: 7}
	_, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("c1", "dep"), Identity: idn, TokenHash: model.HashToken("secret-1")})
	if err != nil {
		t.Fatal(err)
	}
	mustCreateChat(t, s, "c2")
	mustCreateChat(t, s, "c3")
	mustAppend(t, s, "c1", "a", "b")
	mustAppend(t, s, "c2", "x")
	if _, _, _, err := s.Mutate(ctx, "c2", "end-1", endChat); err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.OpenChatIDs(t, s), []string{"c1", "c3"}; !slices.Equal(got, want) {
		t.Fatalf("open chats = %v, want %v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, path, store.Options{})
	if got, want := storetest.OpenChatIDs(t, s), []string{"c1", "c3"}; !slices.Equal(got, want) {
		t.Errorf("open chats after reopen = %v, want %v", got, want)
	}
	if got := seqs(mustEventsAfter(t, s, "c1", 0, 10)); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("c1 seqs after reopen = %v, want [1 2]", got)
	}
	c2 := mustChat(t, s, "c2")
	if c2.State != model.StateEnded || c2.LastSeq != 2 {
		t.Errorf("c2 after reopen = {State:%s LastSeq:%d}, want {ended 2}", c2.State, c2.LastSeq)
	}
	tok, err := s.LookupToken(ctx, model.HashToken("secret-1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (model.Token{Kind: "visitor", ChatID: "c1", IdentityID: "idn-c1", CreatedAt: 1_700_000_000_000}); tok != want {
		t.Errorf("token = %+v, want %+v", tok, want)
	}
	if _, err := s.LookupToken(ctx, model.HashToken("secret-2")); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown token: err = %v, want ErrNotFound", err)
	}
	if got, err := s.Identity(ctx, "idn-1"); err != nil || got.Profile.Nickname != "Ann" {
		t.Errorf("identity = %+v, %v; want nickname Ann", got, err)
	}
	if _, err := s.Identity(ctx, "idn-2"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown identity: err = %v, want ErrNotFound", err)
	}
	// The request id survives too, and seqs go on without a gap.
	if _, _, replayed, err := s.Mutate(ctx, "c2", "end-1", endChat); err != nil || !replayed {
		t.Errorf("repeated end after reopen: replayed %v, err %v; want true, nil", replayed, err)
	}
	if _, evs := mustAppend(t, s, "c1", "c"); !slices.Equal(seqs(evs), []uint64{3}) {
		t.Errorf("c1 append after reopen: seqs %v, want [3]", seqs(evs))
	}
	// An ended chat that is reopened is open again.
	if _, _, _, err := s.Mutate(ctx, "c2", "", func(c *model.Chat) ([]model.Event, error) {
		c.State, c.EndedAt = model.StateActive, 0
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.OpenChatIDs(t, s), []string{"c1", "c2", "c3"}; !slices.Equal(got, want) {
		t.Errorf("open chats after reopening c2 = %v, want %v", got, want)
	}
}

// TestClose_CommitsQueued closes the store while writes wait in the queue:
// they all commit, and writes after Close are refused.
func TestClose_CommitsQueued(t *testing.T) {
	s, path := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")
	release := holdWriter(t, s, "c1")

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, _, errs[i] = s.Mutate(context.Background(), "c1", "", appendFn(message(fmt.Sprint(i)))) })
	}
	waitFor(t, 10*time.Second, func() bool { return store.QueueLen(s) == n })

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitFor(t, 10*time.Second, func() bool { return store.Closing(s) })

	if _, _, _, err := s.Mutate(context.Background(), "c1", "", appendFn(message("late"))); !errors.Is(err, model.ErrClosed) {
		t.Errorf("Mutate after Close: err = %v, want ErrClosed", err)
	}
	if _, _, err := s.CreateChat(context.Background(), model.NewChat{Chat: testChat("c9", "dep")}); !errors.Is(err, model.ErrClosed) {
		t.Errorf("CreateChat after Close: err = %v, want ErrClosed", err)
	}
	release()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("queued write %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Chat(context.Background(), "c1"); !errors.Is(err, model.ErrClosed) {
		t.Errorf("read after Close: err = %v, want ErrClosed", err)
	}

	s = openTestStore(t, path, store.Options{})
	if got, want := seqs(mustEventsAfter(t, s, "c1", 0, 100)), seqRange(1, n); !slices.Equal(got, want) {
		t.Fatalf("seqs after reopen = %v, want %v", got, want)
	}
}

func TestContextCancelled(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")

	t.Run("Before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var ran atomic.Int32
		for i := range 50 { // a cancelled ctx must never race the queue
			_, _, _, err := s.Mutate(ctx, "c1", "", func(*model.Chat) ([]model.Event, error) {
				ran.Add(1)
				return []model.Event{message("never")}, nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Mutate %d: err = %v, want context.Canceled", i, err)
			}
			_, _, err = s.CreateChat(ctx, model.NewChat{Chat: testChat(fmt.Sprintf("c2-%d", i), "dep")})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("CreateChat %d: err = %v, want context.Canceled", i, err)
			}
		}
		// The queue is FIFO: once this write is through, anything wrongly
		// queued above has been applied too.
		mustAppend(t, s, "c1")
		if got := ran.Load(); got != 0 {
			t.Errorf("MutateFunc ran %d times for a cancelled ctx", got)
		}
		if got := storetest.OpenChatIDs(t, s); !slices.Equal(got, []string{"c1"}) {
			t.Errorf("open chats = %v, want [c1]", got)
		}
		if got := mustChat(t, s, "c1").LastSeq; got != 0 {
			t.Errorf("LastSeq = %d, want 0", got)
		}
	})

	t.Run("WhileQueued", func(t *testing.T) {
		release := holdWriter(t, s, "c1")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, _, _, err := s.Mutate(ctx, "c1", "rq-1", appendFn(message("maybe")))
			done <- err
		}()
		waitFor(t, 10*time.Second, func() bool { return store.QueueLen(s) == 1 })
		cancel()
		// Release before Mutate returns, so that its return and the writer's
		// apply are not ordered: -race checks they share nothing.
		release()
		switch err := <-done; {
		case errors.Is(err, context.Canceled):
		case err == nil:
			t.Log("the write committed before Mutate saw the cancel")
		default:
			t.Fatalf("err = %v, want context.Canceled (or nil)", err)
		}
		// The write was queued, so it still commits; a retry is a replay.
		waitFor(t, 10*time.Second, func() bool { return mustChat(t, s, "c1").LastSeq == 1 })
		_, evs, replayed, err := s.Mutate(context.Background(), "c1", "rq-1", appendFn(message("maybe")))
		if err != nil || !replayed || !slices.Equal(seqs(evs), []uint64{1}) {
			t.Fatalf("retry = seqs %v, replayed %v, err %v; want [1], true, nil", seqs(evs), replayed, err)
		}
	})
}

func TestHashToken(t *testing.T) {
	a, b := model.HashToken("t1"), model.HashToken("t2")
	if len(a) != 32 || string(a) == string(b) || string(a) != string(model.HashToken("t1")) {
		t.Fatalf("HashToken: len %d, distinct %v, stable %v", len(a), string(a) != string(b), string(a) == string(model.HashToken("t1")))
	}
	if string(a) == "t1" {
		t.Fatal("HashToken returned the token")
	}
}

// TestMutate_PanicFailsOnlyThatWrite checks that a panicking MutateFunc is
// answered with an error and the writer goes on serving later writes.
func TestMutate_PanicFailsOnlyThatWrite(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	ctx := context.Background()
	c := mustCreateChat(t, s, "panics")
	_, _, _, err := s.Mutate(ctx, c.ID, "", func(*model.Chat) ([]model.Event, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Mutate with a panicking fn: err = %v, want a panic error", err)
	}
	_, evs, _, err := s.Mutate(ctx, c.ID, "", appendFn(message("after the panic")))
	if err != nil || len(evs) != 1 {
		t.Fatalf("write after a panic: evs %v, err %v", evs, err)
	}
}
