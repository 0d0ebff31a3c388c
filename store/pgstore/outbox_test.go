package pgstore_test

import (
	"context"
	"slices"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

func message(text string) model.Event {
	return model.Event{Type: model.EventMessage, From: model.Party{ID: "v", Type: model.PartyClient}, Text: text, Time: 1}
}

func appendFn(evs ...model.Event) model.MutateFunc {
	return func(*model.Chat) ([]model.Event, error) { return evs, nil }
}

func mustCreateChat(t testing.TB, s *pgstore.Store, id string) {
	t.Helper()
	if _, _, err := s.CreateChat(context.Background(), chat(id, "")); err != nil {
		t.Fatal(err)
	}
}

// openOutbox is a store with the change feed on.
func openOutbox(t testing.TB) (*pgstore.Store, string) {
	t.Helper()
	s, u := openTest(t)
	s.SetChangeFeed(true)
	return s, u
}

// TestOutbox_FailedWriteWritesNoEntry: a Mutate the database refuses in a
// batch leaves no change row, the others of its batch keep theirs.
func TestOutbox_FailedWriteWritesNoEntry(t *testing.T) {
	s, _ := openOutbox(t)
	for _, id := range []string{"c1", "c2"} {
		mustCreateChat(t, s, id)
	}
	storetest.Pump(t, s)
	if _, err := s.ListOutbox(context.Background(), model.OutboxPending, 0, 10); err != nil {
		t.Fatal(err)
	}
	res := pgstore.RunBatch(s, []pgstore.BatchMutate{
		{ID: "c1", RequestID: "rq-1", Fn: appendText("a")},
		{ID: "c2", RequestID: "rq-\x00", Fn: appendText("refused")},
		{ID: "c2", RequestID: "rq-2", Fn: appendText("b")},
	})
	if res[0].Err != nil || res[1].Err == nil || res[2].Err != nil {
		t.Fatalf("results %+v; want only the second to fail", res)
	}
	got := storetest.EventIDs(storetest.MustList(t, s, model.OutboxPending))
	if want := []string{"c1:1", "c2:1", "c1:2", "c2:2"}; !slices.Equal(got, want) {
		t.Errorf("outbox = %v, want %v", got, want)
	}
}
