package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
)

// openTest opens a store in a fresh schema and returns it with its URL.
func openTest(t testing.TB) (*pgstore.Store, string) {
	t.Helper()
	needDatabase(t)
	return openIn(t, t.TempDir())
}

// openIn opens the store in the schema that stands for dir (the same dir,
// the same schema) and closes it when t ends.
func openIn(t testing.TB, dir string) (*pgstore.Store, string) {
	t.Helper()
	u, err := schemaURL(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, u
}

func chat(id, startKey string) model.NewChat {
	return model.NewChat{
		Chat:     model.Chat{ID: id, Deployment: "d", Mode: "live", State: model.StateQueued, CreatedAt: 1_700_000_000_000},
		StartKey: startKey,
		Events:   []model.Event{{Type: model.EventParticipantJoined, From: model.Party{ID: "v", Type: model.PartyClient}, Time: 1_700_000_000_000}},
	}
}

// TestConcurrentStarts: starts racing with one start key, as retries landing
// on several gateways at once, make one chat; every attempt is answered
// with it.
func TestConcurrentStarts(t *testing.T) {
	t.Run("OwnIDs", func(t *testing.T) { testConcurrentStarts(t, false) })
	t.Run("SameID", func(t *testing.T) { testConcurrentStarts(t, true) })
}

// testConcurrentStarts races starts with one key, each with a chat id of its
// own or all with the same one.
func testConcurrentStarts(t *testing.T, sameID bool) {
	s, _ := openTest(t)
	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	// Each starter first holds a connection of the pool (a read), so the
	// starts race rather than wait for connections to be made one by one.
	var warm sync.WaitGroup
	warm.Add(n)
	for i := range n {
		wg.Go(func() {
			_, _ = s.Chat(context.Background(), "warm")
			warm.Done()
			warm.Wait()
			id := fmt.Sprint("race-", i)
			if sameID {
				id = "race"
			}
			c, existing, err := s.CreateChat(context.Background(), chat(id, "start-race"))
			ids[i], created[i], errs[i] = c.ID, !existing, err
		})
	}
	wg.Wait()
	first := ""
	news := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if created[i] {
			news++
			first = ids[i]
		}
	}
	if news != 1 {
		t.Fatalf("%d starts created a chat, want 1", news)
	}
	for i, id := range ids {
		if id != first {
			t.Fatalf("start %d answered chat %s, the created one is %s", i, id, first)
		}
	}
}

// TestTextRoundTrips: what a visitor may type, a NUL included (jsonb would
// refuse it), and raw JSON data come back as written.
func TestTextRoundTrips(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, _, err := s.CreateChat(ctx, chat("t1", "")); err != nil {
		t.Fatal(err)
	}
	text := "a\x00b \u2028 é 😀 \"q\""
	data := `{"z":1,"a":[2,3]}` // compact, as the model encodes it; jsonb would reorder the keys
	_, _, _, err := s.Mutate(ctx, "t1", "rq", func(*model.Chat) ([]model.Event, error) {
		return []model.Event{{Type: model.EventMessage, Text: text, Data: []byte(data), Time: 1}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.EventsAfter(ctx, "t1", 1, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("read back: %d events, err %v", len(evs), err)
	}
	if evs[0].Text != text || string(evs[0].Data) != data {
		t.Fatalf("read back text %q data %s; wrote %q and %s", evs[0].Text, evs[0].Data, text, data)
	}
}

// TestNewerSchemaRefused: a binary does not write to a database a newer one
// migrated; reopening at the same version migrates nothing.
func TestNewerSchemaRefused(t *testing.T) {
	s, u := openTest(t)
	_ = s.Close()
	ctx := context.Background()
	again, err := pgstore.Open(ctx, u)
	if err != nil {
		t.Fatalf("reopen at the same version: %v", err)
	}
	_ = again.Close()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE cxgate_schema SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if s, err := pgstore.Open(ctx, u); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("open of a newer schema: %v, want it refused", err)
	}
}

// TestConcurrentRetries: attempts of one request racing on one chat, as a
// client's retry reaching another gateway while the first attempt runs,
// append once; the others are answered with its events.
func TestConcurrentRetries(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, _, err := s.CreateChat(ctx, chat("rr", "")); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg, warm sync.WaitGroup
	warm.Add(n)
	seqs := make([]uint64, n)
	fresh := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, _ = s.Chat(ctx, "rr")
			warm.Done()
			warm.Wait()
			_, evs, replayed, err := s.Mutate(ctx, "rr", "rq-race", func(*model.Chat) ([]model.Event, error) {
				return []model.Event{{Type: model.EventMessage, Text: fmt.Sprint("attempt ", i), Time: 1}}, nil
			})
			if err == nil && len(evs) != 1 {
				err = fmt.Errorf("%d events", len(evs))
			}
			if err == nil {
				seqs[i], fresh[i] = evs[0].Seq, !replayed
			}
			errs[i] = err
		})
	}
	wg.Wait()
	appended := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("attempt %d: %v", i, errs[i])
		}
		if fresh[i] {
			appended++
		}
		if seqs[i] != 2 {
			t.Fatalf("attempt %d answered seq %d, want 2 (the one append)", i, seqs[i])
		}
	}
	if appended != 1 {
		t.Fatalf("%d attempts appended, want 1", appended)
	}
	if evs, err := s.EventsAfter(ctx, "rr", 0, 100); err != nil || len(evs) != 2 {
		t.Fatalf("the chat holds %d events (err %v), want 2", len(evs), err)
	}
}

// TestTwoGateways: two stores on one database, as two gateways, append to
// the same chats at once, each batch of each locking several chats, and
// retry every append on the other one: every chat's seqs stay contiguous,
// and every retry is answered with the first attempt's seq.
func TestTwoGateways(t *testing.T) {
	a, u := openTest(t)
	b, err := pgstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	const chats, writers, n = 6, 6, 25
	for c := range chats {
		if _, _, err := a.CreateChat(ctx, chat(fmt.Sprint("g", c), "")); err != nil {
			t.Fatal(err)
		}
	}
	stores := []*pgstore.Store{a, b}
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for g := range 2 {
		for w := range writers {
			wg.Go(func() {
				first, other := stores[g], stores[1-g]
				for i := range n {
					id, rq := fmt.Sprint("g", (w+i)%chats), fmt.Sprintf("rq-%d-%d-%d", g, w, i)
					fn := func(*model.Chat) ([]model.Event, error) {
						return []model.Event{{Type: model.EventMessage, Text: rq, Time: 1}}, nil
					}
					_, evs, replayed, err := first.Mutate(ctx, id, rq, fn)
					if err != nil || replayed || len(evs) != 1 {
						errs <- fmt.Errorf("append %s: %d events, replayed %v, err %v", rq, len(evs), replayed, err)
						return
					}
					_, again, replayed, err := other.Mutate(ctx, id, rq, fn)
					if err != nil || !replayed || len(again) != 1 || again[0].Seq != evs[0].Seq {
						errs <- fmt.Errorf("retry of %s on the other gateway: %v, replayed %v, err %v; want seq %d", rq, again, replayed, err, evs[0].Seq)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for c := range chats {
		id := fmt.Sprint("g", c)
		evs, err := b.EventsAfter(ctx, id, 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range evs {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d has seq %d", id, i, ev.Seq)
			}
		}
		total += len(evs) - 1
	}
	if total != 2*writers*n {
		t.Fatalf("%d appends stored, want %d", total, 2*writers*n)
	}
}

// TestRefusedWriteFailsAlone: a Mutate the database refuses (a request id
// with a NUL, which text cannot hold) fails without taking down the
// Mutates of its batch.
func TestRefusedWriteFailsAlone(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, _, err := s.CreateChat(ctx, chat("bad", "")); err != nil {
		t.Fatal(err)
	}
	var batch []pgstore.BatchMutate
	for i := range 5 {
		rq := fmt.Sprint("rq-", i)
		if i == 2 {
			rq = "rq-\x00"
		}
		batch = append(batch, pgstore.BatchMutate{ID: "bad", RequestID: rq, Fn: appendText(rq)})
	}
	res := pgstore.RunBatch(s, batch)
	for i, r := range res {
		if i == 2 && r.Err == nil {
			t.Fatal("a request id holding a NUL was stored")
		}
		if i != 2 && r.Err != nil {
			t.Fatalf("append %d failed with the refused one: %v", i, r.Err)
		}
	}
	if evs, err := s.EventsAfter(ctx, "bad", 0, 100); err != nil || len(evs) != 5 {
		t.Fatalf("the chat holds %d events (err %v), want 5", len(evs), err)
	}
}

func appendText(text string) model.MutateFunc {
	return func(*model.Chat) ([]model.Event, error) {
		return []model.Event{{Type: model.EventMessage, Text: text, Time: 1}}, nil
	}
}

// TestBatch: Mutates of one batch see each other in order: a request
// repeated within the batch is a replay, a refused Mutate leaves nothing of
// what its function changed to the next one, and seqs follow on.
func TestBatch(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	for _, id := range []string{"b1", "b2"} {
		if _, _, err := s.CreateChat(ctx, chat(id, "")); err != nil {
			t.Fatal(err)
		}
	}
	refused := errors.New("refused")
	res := pgstore.RunBatch(s, []pgstore.BatchMutate{
		{ID: "b1", RequestID: "rq-a", Fn: appendText("a")},
		{ID: "b2", RequestID: "rq-a", Fn: appendText("other chat")},
		{ID: "b1", RequestID: "rq-x", Fn: func(c *model.Chat) ([]model.Event, error) {
			c.Subject = "must not stay"
			c.Participants = append(c.Participants, model.Participant{ID: "ghost"})
			return nil, refused
		}},
		{ID: "b1", RequestID: "rq-a", Fn: appendText("a again")},
		{ID: "nope", Fn: appendText("x")},
		{ID: "b1", Fn: func(c *model.Chat) ([]model.Event, error) {
			if c.Subject != "" || len(c.Participants) != 0 {
				return nil, fmt.Errorf("saw the refused change: subject %q, %d participants", c.Subject, len(c.Participants))
			}
			c.Subject = "kept"
			return []model.Event{{Type: model.EventMessage, Text: "b", Time: 1}}, nil
		}},
	})
	check := func(i int, seq uint64, replayed bool) {
		t.Helper()
		r := res[i]
		if r.Err != nil || len(r.Events) != 1 || r.Events[0].Seq != seq || r.Replayed != replayed {
			t.Fatalf("mutate %d: %d events (%v), replayed %v, err %v; want seq %d, replayed %v",
				i, len(r.Events), r.Events, r.Replayed, r.Err, seq, replayed)
		}
	}
	check(0, 2, false)
	check(1, 2, false)
	if !errors.Is(res[2].Err, refused) {
		t.Fatalf("refused mutate: %v", res[2].Err)
	}
	check(3, 2, true)
	if !errors.Is(res[4].Err, model.ErrNotFound) {
		t.Fatalf("mutate of an unknown chat in a batch: %v", res[4].Err)
	}
	check(5, 3, false)
	c, err := s.Chat(ctx, "b1")
	if err != nil || c.Subject != "kept" || c.LastSeq != 3 || len(c.Participants) != 0 {
		t.Fatalf("b1 after the batch: subject %q, LastSeq %d, %d participants, err %v", c.Subject, c.LastSeq, len(c.Participants), err)
	}
}
