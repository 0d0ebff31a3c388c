package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

func mustCreate(t testing.TB, s *pgstore.Store, n model.NewChat) model.Chat {
	t.Helper()
	c, existing, err := s.CreateChat(context.Background(), n)
	if err != nil || existing {
		t.Fatalf("create %s: existing %v, err %v", n.Chat.ID, existing, err)
	}
	return c
}

func mustMutate(t testing.TB, s *pgstore.Store, id string, fn model.MutateFunc) []model.Event {
	t.Helper()
	_, evs, _, err := s.Mutate(context.Background(), id, "", fn)
	if err != nil {
		t.Fatalf("mutate %s: %v", id, err)
	}
	return evs
}

func endChat(c *model.Chat) ([]model.Event, error) {
	c.State, c.EndedAt = model.StateEnded, 1_700_000_100_000
	return []model.Event{{Type: model.EventChatEnded, Time: 1_700_000_100_000}}, nil
}

// TestTokens_GoWithChat: a chat's tokens go with its row (erasure and
// retention delete chats by their rows). The suite checks the rest of
// identities and tokens.
func TestTokens_GoWithChat(t *testing.T) {
	s, u := openTest(t)
	ctx := context.Background()
	n := chat("c1", "")
	n.TokenHash = model.HashToken("secret-1")
	mustCreate(t, s, n)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM chats WHERE id = 'c1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupToken(ctx, model.HashToken("secret-1")); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("token of a deleted chat: %v", err)
	}
}

// TestOpenChats_Batch: a batch that ends one chat and changes another
// writes both to the open chats. The suite checks the rest of OpenChats.
func TestOpenChats_Batch(t *testing.T) {
	s, _ := openTest(t)
	for _, id := range []string{"c1", "c3"} {
		mustCreate(t, s, chat(id, ""))
	}
	res := pgstore.RunBatch(s, []pgstore.BatchMutate{
		{ID: "c1", Fn: endChat},
		{ID: "c3", Fn: func(c *model.Chat) ([]model.Event, error) { c.Subject = "still open"; return nil, nil }},
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("batch write %d: %v", i, r.Err)
		}
	}
	if got, want := storetest.OpenChatIDs(t, s), []string{"c3"}; !slices.Equal(got, want) {
		t.Fatalf("open chats after the batch = %v, want %v", got, want)
	}
}

func chatIDs(cs []model.Chat) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// TestSessionKey: every Open of one database has the same key, also when
// the first Opens race; another database has another.
func TestSessionKey(t *testing.T) {
	needDatabase(t)
	u, err := schemaURL(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := pgstore.Open(context.Background(), u)
			if err != nil {
				errs[i] = err
				return
			}
			keys[i] = s.SessionKey()
			errs[i] = s.Close()
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("open %d has key %x, open 0 has %x", i, keys[i], keys[0])
		}
	}
	other, _ := openTest(t)
	if bytes.Equal(other.SessionKey(), keys[0]) {
		t.Fatal("two databases have the same session key")
	}
}

// TestPingAndStats: Ping answers while the store is open; the writer counts
// its commits and the writes they carried.
func TestPingAndStats(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, chat("c1", ""))
	before := s.Stats()
	for i := range 3 {
		mustMutate(t, s, "c1", appendText(fmt.Sprint(i)))
	}
	pgstore.RunBatch(s, []pgstore.BatchMutate{{ID: "c1", Fn: appendText("a")}, {ID: "c1", Fn: appendText("b")}})
	st := s.Stats()
	if st.Commits-before.Commits != 4 || st.Writes-before.Writes != 5 || st.Busy <= before.Busy {
		t.Fatalf("stats went from %+v to %+v; want 4 commits of 5 writes", before, st)
	}
	_ = s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping of a closed store succeeded")
	}
}
