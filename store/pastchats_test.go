package store_test

import (
	"context"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// TestPastChatsIndex: a chat that ends is listed for each of its agents,
// newest end first, in pages; an open one is not; erasing the visitor takes
// the chat out of the index and leaves no key behind.
func TestPastChatsIndex(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, store.Options{})
	empty, err := s.KeyCounts()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, identity string, endedAt int64, agents ...string) {
		t.Helper()
		_, _, err := s.CreateChat(ctx, model.NewChat{Chat: model.Chat{ID: id, Deployment: "d", Mode: "live", State: model.StateQueued,
			IdentityID: identity}, Events: []model.Event{{Type: model.EventParticipantJoined, From: model.Party{Type: model.PartyClient}}}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = s.Mutate(ctx, id, "", func(c *model.Chat) ([]model.Event, error) {
			for _, a := range agents {
				c.Participants = append(c.Participants, model.Participant{ID: a, Name: a, JoinedAt: 1})
			}
			c.State = model.StateActive
			if endedAt > 0 {
				c.State, c.EndedAt = model.StateEnded, endedAt
			}
			return []model.Event{message("x")}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("c1", "idn-1", 100, "ann")
	mk("c2", "idn-2", 300, "ann", "bob")
	mk("c3", "idn-3", 200, "ann")
	mk("c4", "idn-4", 0, "ann") // open

	ids := func(cs []model.Chat) (out []string) {
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	page, next, err := s.PastChats(ctx, "ann", model.PastCursor{}, 2)
	if err != nil || len(page) != 2 || page[0].ID != "c2" || page[1].ID != "c3" || next.ChatID != "c3" {
		t.Fatalf("first page %v next %+v, %v", ids(page), next, err)
	}
	page, next, err = s.PastChats(ctx, "ann", next, 2)
	if err != nil || len(page) != 1 || page[0].ID != "c1" || next.ChatID != "" {
		t.Fatalf("second page %v next %+v, %v", ids(page), next, err)
	}
	if page, _, _ := s.PastChats(ctx, "bob", model.PastCursor{}, 10); len(page) != 1 || page[0].ID != "c2" {
		t.Fatalf("bob's past chats %v", ids(page))
	}
	if page, _, _ := s.PastChats(ctx, "an", model.PastCursor{}, 10); len(page) != 0 {
		t.Fatalf("an agent whose id is a prefix of another's sees %v", ids(page))
	}

	if _, err := s.EraseIdentity(ctx, "idn-2", nil); err != nil {
		t.Fatal(err)
	}
	if page, _, _ := s.PastChats(ctx, "ann", model.PastCursor{}, 10); len(page) != 2 || page[0].ID != "c3" {
		t.Fatalf("after erasure %v", ids(page))
	}
	counts, err := s.KeyCounts()
	if err != nil {
		t.Fatal(err)
	}
	if got := counts["agent_chats"] - empty["agent_chats"]; got != 2 {
		t.Errorf("agent_chats holds %d keys after the erasure, want 2 (c1 and c3 of ann)", got)
	}
}
