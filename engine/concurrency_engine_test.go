package engine_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// parallelDo runs fn(0..n-1) at once, released together, and waits for all.
func parallelDo(n int, fn func(i int)) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			fn(i)
		})
	}
	close(gate)
	wg.Wait()
}

// TestEngineConcurrentAccepts: four agents accept one waiting chat at the
// same moment; exactly one gets it, the others are told it is taken, and
// nobody but the winner counts it or keeps a seat for it.
func TestEngineConcurrentAccepts(t *testing.T) {
	agents := []string{"ann", "bob", "cleo", "dan"}
	te := newTestEngine(t, engineConfig(agentCfg("ann", 1, nil, nil), agentCfg("bob", 1, nil, nil),
		agentCfg("cleo", 1, nil, nil), agentCfg("dan", 1, nil, nil)))
	ctx := context.Background()
	for round := range 20 {
		c := te.start(t, engine.StartRequest{Deployment: "web", Queue: "manual"})
		errs := make([]error, len(agents))
		parallelDo(len(agents), func(i int) { errs[i] = te.Assign(ctx, c.ID, agents[i]) })
		winner := ""
		for i, err := range errs {
			switch {
			case err == nil && winner != "":
				t.Fatalf("round %d: both %s and %s accepted the chat", round, winner, agents[i])
			case err == nil:
				winner = agents[i]
			case !errors.Is(err, engine.ErrAssigned):
				t.Fatalf("round %d: %s: %v, want nil or ErrAssigned", round, agents[i], err)
			}
		}
		if winner == "" {
			t.Fatalf("round %d: nobody got the chat: %v", round, errs)
		}
		if h := te.holders(t, c.ID); !slices.Equal(h, []string{winner}) {
			t.Fatalf("round %d: chat held by %v, want only %s", round, h, winner)
		}
		for _, a := range agents {
			got := te.agentChats(t, a)
			if want := a == winner; slices.Contains(got, c.ID) != want || len(got) > 1 {
				t.Fatalf("round %d: %s counts %v (winner %s)", round, a, got, winner)
			}
		}
		if _, err := te.End(ctx, c.ID, model.Party{Type: "Client"}, "visitor"); err != nil {
			t.Fatal(err)
		}
		// Every seat is free again: a loser's failed accept kept none.
		for _, a := range agents {
			if got := te.agentChats(t, a); len(got) != 0 {
				t.Fatalf("round %d: after the end %s still counts %v", round, a, got)
			}
		}
	}
}

// TestEngineConcurrentTransfers: an agent's two transfers of one chat at
// once, to two agents, move it once; two chats transferred at once to an
// agent with one seat give it exactly one. A failed transfer keeps no seat.
func TestEngineConcurrentTransfers(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 2, nil, nil), agentCfg("bob", 1, nil, nil), agentCfg("cleo", 1, nil, nil)))
	ctx := context.Background()
	end := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if _, err := te.End(ctx, id, model.Party{Type: "Client"}, "visitor"); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Chats reach Ann by manual accept: no routing in the way.
	give := func() (model.Chat, model.Participant) {
		t.Helper()
		c := te.start(t, engine.StartRequest{Deployment: "web", Queue: "manual"})
		if err := te.Assign(ctx, c.ID, "ann"); err != nil {
			t.Fatal(err)
		}
		return c, te.participant(t, c.ID, "ann")
	}
	te.online(t, "bob", "cleo")
	for round := range 20 {
		// One chat, two targets.
		c, ann := give()
		targets := []string{"bob", "cleo"}
		errs := make([]error, 2)
		parallelDo(2, func(i int) { _, errs[i] = te.Transfer(ctx, c.ID, ann, targets[i], "") })
		var won, lost string
		switch {
		case errs[0] == nil && errs[1] == nil:
			t.Fatalf("round %d: both transfers of one chat succeeded", round)
		case errs[0] == nil:
			won, lost = "bob", "cleo"
		case errs[1] == nil:
			won, lost = "cleo", "bob"
		default:
			t.Fatalf("round %d: both transfers failed: %v", round, errs)
		}
		if err := errs[slices.Index(targets, lost)]; !errors.Is(err, engine.ErrNotParticipant) {
			t.Fatalf("round %d: the losing transfer: %v, want ErrNotParticipant", round, err)
		}
		if h := te.holders(t, c.ID); !slices.Equal(h, []string{won}) {
			t.Fatalf("round %d: chat held by %v, want only %s", round, h, won)
		}
		if got := te.agentChats(t, lost); len(got) != 0 {
			t.Fatalf("round %d: %s, who lost, counts %v", round, lost, got)
		}
		end(c.ID)

		// Two chats, one seat.
		a, annA := give()
		b, annB := give()
		ids := []string{a.ID, b.ID}
		parts := []model.Participant{annA, annB}
		parallelDo(2, func(i int) { _, errs[i] = te.Transfer(ctx, ids[i], parts[i], "bob", "") })
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, engine.ErrAtCapacity):
				t.Fatalf("round %d: transfer %d: %v, want nil or ErrAtCapacity", round, i, err)
			}
		}
		if got := te.agentChats(t, "bob"); ok != 1 || len(got) != 1 {
			t.Fatalf("round %d: %d transfers to Bob (max 1) succeeded, Bob counts %v; want exactly one", round, ok, got)
		}
		end(a.ID, b.ID)
		// Bob's seat is free again: the refused transfer kept none.
		c, ann = give()
		if _, err := te.Transfer(ctx, c.ID, ann, "bob", ""); err != nil {
			t.Fatalf("round %d: transfer to Bob, free again: %v", round, err)
		}
		end(c.ID)
	}
}
