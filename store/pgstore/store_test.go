package pgstore_test

import (
	"context"
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
	u, err := schemaURL(t.TempDir())
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

// TestIdentityRefused: a chat start carrying an identity or a token is
// refused whole while this store keeps neither.
func TestIdentityRefused(t *testing.T) {
	s, _ := openTest(t)
	n := chat("i1", "")
	n.TokenHash = []byte("hash")
	if _, _, err := s.CreateChat(context.Background(), n); err == nil {
		t.Fatal("a start with a token was accepted and the token dropped")
	}
	if _, err := s.Chat(context.Background(), "i1"); err == nil {
		t.Fatal("a refused start stored its chat")
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
