package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

// TestPastChats: a chat that ends is listed for each of its agents, newest
// end first (then by chat id, in byte order), in pages; an open one is
// not; a deleted chat leaves the list.
func TestPastChats(t *testing.T) {
	ctx := context.Background()
	s, u := openTest(t)
	mk := func(id string, endedAt int64, agents ...string) {
		t.Helper()
		mustCreate(t, s, chat(id, ""))
		mustMutate(t, s, id, func(c *model.Chat) ([]model.Event, error) {
			for _, a := range agents {
				c.Participants = append(c.Participants, model.Participant{ID: a, Name: a, JoinedAt: 1})
			}
			c.State = model.StateActive
			if endedAt > 0 {
				c.State, c.EndedAt = model.StateEnded, endedAt
			}
			return []model.Event{{Type: model.EventMessage, Text: "x", Time: 1}}, nil
		})
	}
	mk("c1", 100, "ann")
	mk("c2", 300, "ann", "bob")
	mk("c3", 200, "ann")
	mk("c4", 0, "ann") // open
	mk("C5", 200, "ann")
	mk("c6", 100, "bob", "")

	page, next, err := s.PastChats(ctx, "ann", model.PastCursor{}, 2)
	if err != nil || !slices.Equal(chatIDs(page), []string{"c2", "c3"}) || next != (model.PastCursor{EndedAt: 200, ChatID: "c3"}) {
		t.Fatalf("first page %v next %+v, %v", chatIDs(page), next, err)
	}
	page, next, err = s.PastChats(ctx, "ann", next, 2)
	if err != nil || !slices.Equal(chatIDs(page), []string{"C5", "c1"}) || next != (model.PastCursor{}) {
		t.Fatalf("second page %v next %+v, %v", chatIDs(page), next, err)
	}
	if page[0].State != model.StateEnded || page[0].LastSeq != 2 {
		t.Errorf("listed chat %+v, want the ended record", page[0])
	}
	if page, next, _ := s.PastChats(ctx, "bob", model.PastCursor{}, 10); !slices.Equal(chatIDs(page), []string{"c2", "c6"}) || next.ChatID != "" {
		t.Fatalf("bob's past chats %v, next %+v", chatIDs(page), next)
	}
	if page, _, _ := s.PastChats(ctx, "an", model.PastCursor{}, 10); len(page) != 0 {
		t.Fatalf("an agent whose id is a prefix of another's sees %v", chatIDs(page))
	}
	if page, next, err := s.PastChats(ctx, "ann", model.PastCursor{}, 0); err != nil || len(page) != 0 || next.ChatID != "" {
		t.Fatalf("a page of 0: %v %+v %v", chatIDs(page), next, err)
	}

	// Reopened and ended again: listed at its new end too, as the bbolt
	// store lists it; ending an ended chat again lists nothing more.
	mustMutate(t, s, "c1", func(c *model.Chat) ([]model.Event, error) {
		c.State, c.EndedAt = model.StateActive, 0
		return nil, nil
	})
	mustMutate(t, s, "c1", func(c *model.Chat) ([]model.Event, error) {
		c.State, c.EndedAt = model.StateEnded, 400
		return nil, nil
	})
	mustMutate(t, s, "c1", func(c *model.Chat) ([]model.Event, error) {
		c.EndedAt = 500
		return nil, nil
	})
	if page, _, _ := s.PastChats(ctx, "ann", model.PastCursor{}, 10); !slices.Equal(chatIDs(page), []string{"c1", "c2", "c3", "C5", "c1"}) {
		t.Fatalf("after c1 ended again %v", chatIDs(page))
	}

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM chats WHERE id = 'c2'`); err != nil {
		t.Fatal(err)
	}
	if page, _, _ := s.PastChats(ctx, "bob", model.PastCursor{}, 10); !slices.Equal(chatIDs(page), []string{"c6"}) {
		t.Fatalf("after deleting c2 %v", chatIDs(page))
	}
}

// TestPastChatsBatch: chats ending in one batch are each listed once.
func TestPastChatsBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	var batch []pgstore.BatchMutate
	for i := range 3 {
		id := fmt.Sprint("b", i)
		mustCreate(t, s, chat(id, ""))
		end := func(c *model.Chat) ([]model.Event, error) {
			c.Participants = []model.Participant{{ID: "ann"}}
			c.State, c.EndedAt = model.StateEnded, int64(10+i)
			return nil, nil
		}
		batch = append(batch, pgstore.BatchMutate{ID: id, Fn: end}, pgstore.BatchMutate{ID: id, Fn: end})
	}
	for i, r := range pgstore.RunBatch(s, batch) {
		if r.Err != nil {
			t.Fatalf("write %d: %v", i, r.Err)
		}
	}
	if page, _, err := s.PastChats(ctx, "ann", model.PastCursor{}, -1); err != nil || !slices.Equal(chatIDs(page), []string{"b2", "b1", "b0"}) {
		t.Fatalf("past chats %v, %v", chatIDs(page), err)
	}
	if got := storetest.OpenChatIDs(t, s); len(got) != 0 {
		t.Fatalf("open chats %v after they ended", got)
	}
}
