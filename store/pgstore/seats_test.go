package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
)

// seatAnn is the seat the tests give: agent ann, two chats at most.
var seatAnn = model.Seat{Agent: "ann", Max: 2}

// join adds agent as a participant (a supervisor when supervisor is set)
// and makes the chat active, as the engine's assignment does.
func join(agent string, supervisor bool) model.MutateFunc {
	return func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, errors.New("ended")
		}
		c.State = model.StateActive
		c.Participants = append(c.Participants, model.Participant{ID: agent, Name: agent, Kind: model.KindHuman, Supervisor: supervisor, JoinedAt: 1})
		return []model.Event{{Type: model.EventParticipantJoined, Time: 1, From: model.Party{ID: agent, Type: model.PartyAgent}}}, nil
	}
}

// leave takes agent out of the chat.
func leave(agent string) model.MutateFunc {
	return func(c *model.Chat) ([]model.Event, error) {
		for i := range c.Participants {
			if c.Participants[i].ID == agent && c.Participants[i].Connected() {
				c.Participants[i].LeftAt = 2
			}
		}
		return []model.Event{{Type: model.EventParticipantLeft, Time: 2, From: model.Party{ID: agent, Type: model.PartyAgent}}}, nil
	}
}

// end ends the chat.
func end(c *model.Chat) ([]model.Event, error) {
	c.State, c.EndedAt, c.EndedBy = model.StateEnded, 3, model.EndedByVisitor
	return []model.Event{{Type: model.EventChatEnded, Time: 3, From: model.System}}, nil
}

func createChats(t *testing.T, s *pgstore.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, _, err := s.CreateChat(context.Background(), chat(id, "")); err != nil {
			t.Fatal(err)
		}
	}
}

// seat gives chat id to ann through MutateSeated.
func seat(s *pgstore.Store, id string) error {
	_, _, _, err := s.MutateSeated(context.Background(), id, "", seatAnn, join("ann", false))
	return err
}

// TestSeatsConcurrent: two gateways' stores seating one agent into many
// chats at once give it no more chats than its capacity; the others are
// refused with ErrNoSeat and write nothing.
func TestSeatsConcurrent(t *testing.T) {
	s1, u := openTest(t)
	s2, err := pgstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	for round := range 5 {
		const n = 16
		ids := make([]string, n)
		for i := range n {
			ids[i] = fmt.Sprintf("r%d-%02d", round, i)
		}
		createChats(t, s1, ids...)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, id := range ids {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			wg.Go(func() { errs[i] = seat(s, id) })
		}
		wg.Wait()
		var won []string
		for i, err := range errs {
			switch {
			case err == nil:
				won = append(won, ids[i])
			case !errors.Is(err, model.ErrNoSeat):
				t.Fatalf("round %d, chat %s: %v", round, ids[i], err)
			}
		}
		if len(won) != seatAnn.Max {
			t.Fatalf("round %d: %d seatings succeeded (%v), want %d", round, len(won), won, seatAnn.Max)
		}
		for i, id := range ids {
			c, err := s2.Chat(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(c.Participants) > 0; got != (errs[i] == nil) || (errs[i] != nil && (c.LastSeq != 1 || c.State != model.StateQueued)) {
				t.Fatalf("round %d, chat %s (err %v): stored %+v", round, id, errs[i], c)
			}
		}
		// End the round's chats: the next round starts with ann free.
		for _, id := range won {
			if _, _, _, err := s1.Mutate(context.Background(), id, "", end); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSeatsFreed: a chat the agent left or that ended frees its seat; a
// supervisor takes none; a replayed request is answered without a check.
func TestSeatsFreed(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	createChats(t, s, "a", "b", "c", "d", "e", "f", "g")
	for _, id := range []string{"a", "b"} {
		if err := seat(s, id); err != nil {
			t.Fatalf("seat %s: %v", id, err)
		}
	}
	full := func(id string) {
		t.Helper()
		if err := seat(s, id); !errors.Is(err, model.ErrNoSeat) {
			t.Fatalf("seat %s with ann full: %v, want ErrNoSeat", id, err)
		}
	}
	full("c")
	// Left: a's seat is free, c takes it.
	if _, _, _, err := s.Mutate(ctx, "a", "", leave("ann")); err != nil {
		t.Fatal(err)
	}
	if err := seat(s, "c"); err != nil {
		t.Fatalf("seat c after ann left a: %v", err)
	}
	full("d")
	// Ended: b's seat is free, d takes it.
	if _, _, _, err := s.Mutate(ctx, "b", "", end); err != nil {
		t.Fatal(err)
	}
	if err := seat(s, "d"); err != nil {
		t.Fatalf("seat d after b ended: %v", err)
	}
	full("e")
	// A supervisor takes no seat: ann joins e as one while full, and with
	// c left she still has a seat for f beside d and e.
	if _, _, _, err := s.MutateSeated(ctx, "e", "", seatAnn, join("ann", true)); err != nil {
		t.Fatalf("ann supervises e while full: %v", err)
	}
	if _, _, _, err := s.Mutate(ctx, "c", "", leave("ann")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.MutateSeated(ctx, "f", "rq-f", seatAnn, join("ann", false)); err != nil {
		t.Fatalf("seat f beside a supervised chat: %v", err)
	}
	// A retry of f's request finds its events, full or not.
	if _, _, replayed, err := s.MutateSeated(ctx, "f", "rq-f", seatAnn, join("ann", false)); err != nil || !replayed {
		t.Fatalf("retry of f: replayed %v, %v", replayed, err)
	}
	full("g")
	// Another agent's seats are its own.
	if _, _, _, err := s.MutateSeated(ctx, "g", "", model.Seat{Agent: "bob", Max: 1}, join("bob", false)); err != nil {
		t.Fatalf("seat bob: %v", err)
	}
}

// TestSeatsDeletedChat: a chat deleted (retention, erasure) takes its
// seats with it, and a chat created with an agent in it takes a seat.
func TestSeatsDeletedChat(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	created := chat("made", "")
	created.Chat.State = model.StateActive
	created.Chat.Participants = []model.Participant{{ID: "ann", Name: "ann", Kind: model.KindHuman, JoinedAt: 1}}
	if _, _, err := s.CreateChat(ctx, created); err != nil {
		t.Fatal(err)
	}
	createChats(t, s, "a", "b")
	if err := seat(s, "a"); err != nil {
		t.Fatal(err)
	}
	if err := seat(s, "b"); !errors.Is(err, model.ErrNoSeat) {
		t.Fatalf("seat b beside a created chat and a: %v, want ErrNoSeat", err)
	}
	if _, err := s.Pool().Exec(ctx, `DELETE FROM chats WHERE id = 'made'`); err != nil {
		t.Fatal(err)
	}
	if err := seat(s, "b"); err != nil {
		t.Fatalf("seat b once the created chat is deleted: %v", err)
	}
}

// TestSeatsMigration: the step that adds the seats fills them from the open
// chats' records, a record holding \u0000 included.
func TestSeatsMigration(t *testing.T) {
	s, u := openTest(t)
	ctx := context.Background()
	nul := chat("nul", "")
	nul.Chat.UserData = []byte(`{"note":"a\u0000b"}`)
	createChats(t, s, "a", "b", "sup")
	if _, _, err := s.CreateChat(ctx, nul); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "nul"} {
		if err := seat(s, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := s.Mutate(ctx, "b", "", join("ann", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Mutate(ctx, "b", "", end); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Mutate(ctx, "sup", "", join("ann", true)); err != nil {
		t.Fatal(err)
	}
	want := seatRows(t, s)
	if want != "ann/a ann/nul" {
		t.Fatalf("seats: %q", want)
	}
	// Back to the schema before the step, and open again.
	if _, err := s.Pool().Exec(ctx, `DROP TABLE seats; UPDATE cxgate_schema SET version = version - 1`); err != nil {
		t.Fatal(err)
	}
	s2, err := pgstore.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := seatRows(t, s2); got != want {
		t.Fatalf("seats after the migration: %q, want %q", got, want)
	}
}

// seatRows lists the seats rows as agent/chat, in order.
func seatRows(t *testing.T, s *pgstore.Store) string {
	t.Helper()
	var out string
	err := s.Pool().QueryRow(context.Background(),
		`SELECT coalesce(string_agg(agent_id || '/' || chat_id, ' ' ORDER BY agent_id, chat_id), '') FROM seats`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
