package pgstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/storetest"
)

// TestChangeFeed: rows are written only while the feed is on, one per write
// that appended events, with the chat as committed and the seqs appended;
// ConsumeChanges deletes the rows it names and writes its entries in one
// transaction.
func TestChangeFeed(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	mustCreateChat(t, s, "c1")
	if _, _, _, err := s.Mutate(ctx, "c1", "", appendFn(message("before the feed"))); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ChangeFeedDepth(ctx); err != nil || n != 0 {
		t.Fatalf("rows while the feed is off: %d, %v", n, err)
	}
	s.SetChangeFeed(true)
	if _, _, _, err := s.Mutate(ctx, "c1", "", appendFn(message("a"), message("b"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ChangeFeedSignal():
	default:
		t.Error("a commit that wrote a row did not poke the signal")
	}
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
	if c := changes[0]; c.Chat.ID != "c1" || c.First != 3 || c.Last != 4 || c.Chat.State != model.StateQueued || c.Chat.Deployment != "d" ||
		len(events[0]) != 2 || events[0][1].Text != "b" {
		t.Errorf("first row %+v with %d events", c, len(events[0]))
	}
	if c := changes[1]; c.First != 5 || c.Last != 5 || c.Chat.State != model.StateActive || c.ID <= changes[0].ID {
		t.Errorf("second row %+v: want seq 5, the chat active as committed, after the first", c)
	}
	if err := s.ConsumeChanges(ctx, changes[0].ID, []model.OutboxEntry{{Subscription: "w", EventID: "c1:2"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ChangeFeedDepth(ctx); n != 1 {
		t.Errorf("%d rows after consuming the first, want 1", n)
	}
	list, err := s.ListOutbox(ctx, model.OutboxPending, 0, 10)
	if err != nil || !slices.Equal(storetest.EventIDs(list), []string{"c1:2"}) {
		t.Errorf("outbox %v (%v), want the consumed row's entry", storetest.EventIDs(list), err)
	}
	// A start writes its row too.
	mustCreateChat(t, s, "c2")
	if changes, _, _ = s.Changes(ctx, 10); len(changes) != 2 || changes[1].Chat.ID != "c2" || changes[1].First != 1 {
		t.Errorf("rows after a start: %+v", changes)
	}
	// A chat deleted before its rows were read leaves nothing to announce.
	if _, err := s.Pool().Exec(ctx, `DELETE FROM chats WHERE id = 'c2'`); err != nil {
		t.Fatal(err)
	}
	changes, events, err = s.Changes(ctx, 10)
	if err != nil || len(changes) != 2 || changes[1].Chat.ID != "c2" || len(events[1]) != 0 || len(events[0]) != 1 {
		t.Errorf("rows after c2's deletion: %+v with events %v, %v", changes, events, err)
	}
}

// TestChangeFeed_LateCommit: a row written before another but committed
// after it was read is not consumed with it: the next read finds it.
func TestChangeFeed_LateCommit(t *testing.T) {
	ctx := context.Background()
	s, u := openTest(t)
	s.SetChangeFeed(true)
	mustCreateChat(t, s, "c1")
	mustCreateChat(t, s, "c2")
	storetest.Pump(t, s)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	slow, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slow.Rollback(ctx) }()
	// What a slow writer's transaction does: takes its row's id, and
	// commits later.
	if _, err := slow.Exec(ctx, `INSERT INTO change_feed (chat_id, change) VALUES ('c2', '{"chat":{"id":"c2"},"first":1,"last":1}')`); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Mutate(ctx, "c1", "", appendFn(message("a"))); err != nil {
		t.Fatal(err)
	}
	changes, _, err := s.Changes(ctx, 10)
	if err != nil || len(changes) != 1 || changes[0].Chat.ID != "c1" {
		t.Fatalf("rows = %+v, %v; want c1's", changes, err)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeChanges(ctx, changes[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	changes, events, err := s.Changes(ctx, 10)
	if err != nil || len(changes) != 1 || changes[0].Chat.ID != "c2" || len(events[0]) != 1 {
		t.Fatalf("rows after the late commit = %+v, %v; want c2's with its event", changes, err)
	}
}

// TestChangeFeed_OtherGateway: a gateway's signal is poked, on its timer,
// for rows another gateway wrote; the timer pokes only while the feed is
// on.
func TestChangeFeed_OtherGateway(t *testing.T) {
	ctx := context.Background()
	a, u := openTest(t)
	b := reopen(t, u)
	b.SetChangeFeed(true)
	mustCreateChat(t, b, "c1")
	select {
	case <-a.ChangeFeedSignal():
		t.Fatal("poked while the feed is off")
	case <-time.After(1500 * time.Millisecond):
	}
	a.SetChangeFeed(true)
	select {
	case <-a.ChangeFeedSignal():
	case <-time.After(3 * time.Second):
		t.Fatal("not poked for another gateway's rows")
	}
	if changes, _, err := a.Changes(ctx, 10); err != nil || len(changes) != 1 || changes[0].Chat.ID != "c1" {
		t.Fatalf("rows = %+v, %v", changes, err)
	}
}
