package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
)

// The engine gives chats to agents through MutateSeated on this store.
var _ engine.SeatedLog = (*pgstore.Store)(nil)

// seatConfig has ann (two chats at most) and bob, a live deployment routed
// to queue support and one whose chats wait for a manual accept.
func seatConfig() config.Config {
	cfg := config.Config{
		Deployments: []config.Deployment{
			{Key: "web", Mode: config.ModeLive, Queue: "support", Origins: []string{"*"}, IdleTimeout: time.Hour},
			{Key: "manual", Mode: config.ModeLive, Queue: "manual", Origins: []string{"*"}, IdleTimeout: time.Hour},
		},
		Queues: []config.Queue{{Name: "support"}, {Name: "manual", ManualAccept: true}},
		Agents: []config.Agent{
			{ID: "ann", Name: "Ann", Token: "ann-token-0123456789", Kind: model.KindHuman, MaxChats: 2},
			{ID: "bob", Name: "Bob", Token: "bob-token-0123456789", Kind: model.KindHuman, MaxChats: 2},
		},
	}
	cfg.ApplyDefaults()
	return cfg
}

// seatNode is one gateway of a cluster without its bus: an engine on its
// own Store of the shared database. It follows only its own commits, so
// it never hears of the other node's assignments: only the store sees both.
type seatNode struct {
	*engine.Engine
	st *pgstore.Store
}

// newSeatNode opens a Store on u and an engine on it, running its router
// when run is set, both stopped when the test ends.
func newSeatNode(t *testing.T, u string, run bool) *seatNode {
	t.Helper()
	cfg := seatConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(cfg, st, engine.Options{})
	if err := eng.Load(context.Background()); err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if run {
			eng.Run(ctx)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = st.Close()
	})
	for _, a := range []string{"ann", "bob"} {
		if err := eng.SetStatus(context.Background(), a, engine.StatusOnline); err != nil {
			t.Fatal(err)
		}
	}
	return &seatNode{Engine: eng, st: st}
}

func (n *seatNode) start(t *testing.T, deployment string) string {
	t.Helper()
	s, err := n.Start(context.Background(), engine.StartRequest{Deployment: deployment, Visitor: model.Profile{Nickname: "v"}})
	if err != nil {
		t.Fatal(err)
	}
	return s.Chat.ID
}

// connected lists the chat's connected agents as the store holds them.
func connected(t *testing.T, st *pgstore.Store, id string) []string {
	t.Helper()
	c, err := st.Chat(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range c.Participants {
		if p.Connected() {
			out = append(out, p.ID)
		}
	}
	return out
}

// TestEngineSeats: two engines on one database, each keeping ann within
// her capacity in its own view, never give her more chats together: the
// accept and the transfer that the store finds over capacity are the
// engine's ErrAtCapacity.
func TestEngineSeats(t *testing.T) {
	_, u := openTest(t)
	n1, n2 := newSeatNode(t, u, false), newSeatNode(t, u, false)
	ctx := context.Background()
	a, b, c, d := n1.start(t, "manual"), n1.start(t, "manual"), n2.start(t, "manual"), n2.start(t, "manual")
	for _, id := range []string{a, b} {
		if err := n1.Assign(ctx, id, "ann"); err != nil {
			t.Fatalf("ann accepts %s on node 1: %v", id, err)
		}
	}
	// Node 2's view has ann free; the store has her full.
	err := n2.Assign(ctx, c, "ann")
	if !errors.Is(err, engine.ErrAtCapacity) || !errors.Is(err, model.ErrNoSeat) {
		t.Fatalf("ann accepts %s on node 2 while full on node 1: %v, want ErrAtCapacity from the store", c, err)
	}
	if got := connected(t, n2.st, c); len(got) != 0 {
		t.Fatalf("chat %s has %v after a refused accept", c, got)
	}
	// A transfer to her is refused the same way, and bob keeps the chat.
	if err := n2.Assign(ctx, d, "bob"); err != nil {
		t.Fatal(err)
	}
	from := model.Participant{ID: "bob", Name: "Bob", Kind: model.KindHuman}
	if _, err := n2.Transfer(ctx, d, from, "ann", ""); !errors.Is(err, engine.ErrAtCapacity) || !errors.Is(err, model.ErrNoSeat) {
		t.Fatalf("transfer of %s to full ann: %v, want ErrAtCapacity from the store", d, err)
	}
	if got := connected(t, n2.st, d); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("chat %s has %v after a refused transfer, want bob", d, got)
	}
	// Ending one of her chats on node 1 frees a seat node 2 can give.
	if _, err := n1.End(ctx, a, model.System, model.EndedByAgent); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Transfer(ctx, d, from, "ann", ""); err != nil {
		t.Fatalf("transfer of %s to ann with a seat free: %v", d, err)
	}
}

// TestEngineSeatsConcurrent: accepts racing on two engines give ann two
// chats, whatever each engine's view holds; the others are ErrAtCapacity.
func TestEngineSeatsConcurrent(t *testing.T) {
	_, u := openTest(t)
	nodes := []*seatNode{newSeatNode(t, u, false), newSeatNode(t, u, false)}
	ctx := context.Background()
	const n = 12
	ids := make([]string, n)
	for i := range n {
		ids[i] = nodes[i%2].start(t, "manual")
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = nodes[i%2].Assign(ctx, id, "ann") })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, engine.ErrAtCapacity):
			t.Fatalf("accept of %s: %v", ids[i], err)
		}
	}
	if won != 2 {
		t.Fatalf("%d accepts succeeded, want 2", won)
	}
}

// TestEngineSeatsRouted: a router whose view has ann free while the store
// has her full leaves the chat queued, without trying her again and again,
// and gives it to her once a seat is free.
func TestEngineSeatsRouted(t *testing.T) {
	_, u := openTest(t)
	// Node 2 loads before ann takes her chats on node 1: its view never
	// holds them.
	n1, n2 := newSeatNode(t, u, false), newSeatNode(t, u, true)
	ctx := context.Background()
	if err := n2.SetStatus(ctx, "bob", engine.StatusOffline); err != nil {
		t.Fatal(err)
	}
	a, b := n1.start(t, "manual"), n1.start(t, "manual")
	for _, id := range []string{a, b} {
		if err := n1.Assign(ctx, id, "ann"); err != nil {
			t.Fatal(err)
		}
	}
	if info, err := n2.Agent("ann"); err != nil || len(info.Chats) != 0 {
		t.Fatalf("node 2's view of ann: %+v, %v; want no chats", info, err)
	}
	before := n2.st.Stats().Commits
	c := n2.start(t, "web")
	time.Sleep(500 * time.Millisecond)
	if got := connected(t, n2.st, c); len(got) != 0 {
		t.Fatalf("chat %s routed to %v while ann is full", c, got)
	}
	// One refused try (the writer counts it: its transaction wrote
	// nothing); the next comes after a recheck, not in a loop. (The start
	// commits beside the writer.)
	switch tries := n2.st.Stats().Commits - before; {
	case tries == 0:
		t.Fatal("routing never tried ann: the test missed the store's refusal")
	case tries > 2:
		t.Fatalf("%d tries in 500ms while ann is full: routing retries in a loop", tries)
	}
	if _, err := n1.End(ctx, a, model.System, model.EndedByAgent); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(connected(t, n2.st, c)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("chat %s not routed to ann once a seat was free", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := connected(t, n2.st, c); len(got) != 1 || got[0] != "ann" {
		t.Fatalf("chat %s has %v, want ann", c, got)
	}
}
