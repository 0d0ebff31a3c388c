package cluster_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/cluster"
	"github.com/cxgate/cxgate/internal/natstest"
	"github.com/cxgate/cxgate/internal/pgtest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
)

var (
	pg    *pgtest.Server
	pgErr error
)

func TestMain(m *testing.M) {
	pg, pgErr = pgtest.Start()
	code := m.Run()
	if pg != nil {
		pg.Stop()
	}
	os.Exit(code)
}

// database is a fresh database for t, shared by the stores t opens on it.
func database(t *testing.T) string {
	t.Helper()
	pgtest.Need(t, pgErr)
	name := fmt.Sprintf("cluster_%d", time.Now().UnixNano())
	url, err := pg.CreateDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func openStore(t *testing.T, url string) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// gateway is one node of a test cluster: its store, its node, and the
// commits it hands its engine (out), with the local channel the test feeds
// as the store's follower would.
type gateway struct {
	st    *pgstore.Store
	node  *cluster.Node
	local chan *model.Batch
	out   <-chan *model.Batch
}

func join(t *testing.T, name, url, natsURL string) *gateway {
	t.Helper()
	return joinWith(t, name, url, cluster.Options{NATS: natsURL, Reconcile: 200 * time.Millisecond, Announce: 200 * time.Millisecond})
}

func joinWith(t *testing.T, name, url string, o cluster.Options) *gateway {
	t.Helper()
	st := openStore(t, url)
	o.Node, o.Log = name, st
	n, err := cluster.Join(o)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{st: st, node: n, local: make(chan *model.Batch)}
	g.out = n.Follow(context.Background(), g.local)
	t.Cleanup(func() { close(g.local); n.Close() })
	return g
}

// send appends a message on g's store and hands the commit to g's node,
// as the store's follower does, waiting for its dispatch.
func (g *gateway) send(t *testing.T, chatID, text string) model.Event {
	t.Helper()
	ctx := context.Background()
	c, evs, _, err := g.st.Mutate(ctx, chatID, "", func(c *model.Chat) ([]model.Event, error) {
		return []model.Event{{Type: model.EventMessage, Text: text, Time: time.Now().UnixMilli()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g.commit(c, evs)
	return evs[0]
}

func (g *gateway) commit(c model.Chat, evs []model.Event) {
	done := make(chan struct{})
	g.local <- model.NewBatch([]model.Committed{{Chat: c, Events: evs}}, func() { close(done) })
	<-done
}

func create(t *testing.T, g *gateway, id string) {
	t.Helper()
	c, _, err := g.st.CreateChat(context.Background(), model.NewChat{
		Chat:   model.Chat{ID: id, Deployment: "d", Mode: model.ModeLive, State: model.StateQueued},
		Events: []model.Event{{Type: model.EventParticipantJoined, Time: time.Now().UnixMilli()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g.commit(c, []model.Event{{Seq: 1, Type: model.EventParticipantJoined}})
}

// collector reads a node's out stream and records each chat's seqs.
type collector struct {
	mu   sync.Mutex
	seqs map[string][]uint64
	text map[string][]string
}

func collect(g *gateway) *collector {
	c := &collector{seqs: map[string][]uint64{}, text: map[string][]string{}}
	go func() {
		for b := range g.out {
			c.mu.Lock()
			for _, w := range b.Writes {
				for _, ev := range w.Events {
					c.seqs[w.Chat.ID] = append(c.seqs[w.Chat.ID], ev.Seq)
					c.text[w.Chat.ID] = append(c.text[w.Chat.ID], ev.Text)
				}
			}
			c.mu.Unlock()
			b.Done()
		}
	}()
	return c
}

// waitSeqs waits until chat's delivered seqs are 1..n, failing on any
// other sequence (a gap that stays, a duplicate, a reordering).
func (c *collector) waitSeqs(t *testing.T, chat string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := append([]uint64(nil), c.seqs[chat]...)
		c.mu.Unlock()
		for i, s := range got {
			if s != uint64(i+1) {
				t.Fatalf("chat %s delivered seqs %v: not 1, 2, 3… in order once each", chat, got)
			}
		}
		if len(got) == n {
			return
		}
		if len(got) > n || time.Now().After(deadline) {
			t.Fatalf("chat %s delivered seqs %v, want 1..%d", chat, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEveryNodeDeliversEveryCommitOnceInOrder(t *testing.T) {
	url := database(t)
	nats := natstest.Start(t)
	g1, g2, g3 := join(t, "n1", url, nats), join(t, "n2", url, nats), join(t, "n3", url, nats)
	c1, c2, c3 := collect(g1), collect(g2), collect(g3)
	create(t, g1, "chat-a")
	// Three nodes write to one chat at once.
	var wg sync.WaitGroup
	for i, g := range []*gateway{g1, g2, g3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 30 {
				g.send(t, "chat-a", fmt.Sprintf("n%d-%d", i+1, j))
			}
		}()
	}
	wg.Wait()
	for _, c := range []*collector{c1, c2, c3} {
		c.waitSeqs(t, "chat-a", 91)
	}
	// Each node saw the same texts at the same seqs: the store's.
	evs, err := g1.st.EventsAfter(context.Background(), "chat-a", 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*collector{c1, c2, c3} {
		c.mu.Lock()
		for i, ev := range evs {
			if i > 0 && c.text["chat-a"][i] != ev.Text {
				t.Errorf("seq %d delivered %q, stored %q", ev.Seq, c.text["chat-a"][i], ev.Text)
			}
		}
		c.mu.Unlock()
	}
}

func TestCommitsLostByNATSArriveFromTheStore(t *testing.T) {
	url := database(t)
	srv := natstest.New(t)
	g1, g2 := join(t, "n1", url, srv.URL()), join(t, "n2", url, srv.URL())
	c2 := collect(g2)
	go func() {
		for b := range g1.out {
			b.Done()
		}
	}()
	create(t, g1, "chat-b")
	c2.waitSeqs(t, "chat-b", 1)
	// NATS goes away: what n1 commits now reaches n2 through the store,
	// by its reconciler, without a later message to reveal the gap.
	srv.Shutdown()
	for i := range 5 {
		g1.send(t, "chat-b", fmt.Sprintf("while NATS is down %d", i))
	}
	c2.waitSeqs(t, "chat-b", 6)
	if g2.node.Connected() {
		t.Error("n2 says it reaches NATS while it is down")
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for !g2.node.Connected() || !g1.node.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("nodes did not reconnect to NATS")
		}
		time.Sleep(20 * time.Millisecond)
	}
	g1.send(t, "chat-b", "after")
	c2.waitSeqs(t, "chat-b", 7)
}

func TestGapFilledBeforeALaterCommit(t *testing.T) {
	url := database(t)
	nats := natstest.Start(t)
	g1, g2 := join(t, "n1", url, nats), join(t, "n2", url, nats)
	c1 := collect(g1)
	go func() {
		for b := range g2.out {
			b.Done()
		}
	}()
	create(t, g1, "chat-c")
	c1.waitSeqs(t, "chat-c", 1)
	// n2 commits seq 2 without publishing it (as a node killed between its
	// commit and its publish would), then seq 3: n1 gets 2 from the store
	// before 3.
	_, _, _, err := g2.st.Mutate(context.Background(), "chat-c", "", func(c *model.Chat) ([]model.Event, error) {
		return []model.Event{{Type: model.EventMessage, Text: "never published"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g2.send(t, "chat-c", "published")
	c1.waitSeqs(t, "chat-c", 3)
	c1.mu.Lock()
	defer c1.mu.Unlock()
	if got := c1.text["chat-c"][1]; got != "never published" {
		t.Errorf("seq 2 delivered as %q", got)
	}
}

func TestPresenceAcrossNodes(t *testing.T) {
	url := database(t)
	nats := natstest.Start(t)
	g1, g2 := join(t, "n1", url, nats), join(t, "n2", url, nats)
	var mu sync.Mutex
	agents := []string{"ann"}
	g1.node.Announce(func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), agents...) })
	waitFor(t, "ann present on n2", func() bool { return g2.node.Present("ann") })
	if g2.node.Present("bob") {
		t.Error("bob present on n2, connected nowhere")
	}
	mu.Lock()
	agents = nil
	mu.Unlock()
	waitFor(t, "ann gone from n2 once n1 says so", func() bool { return !g2.node.Present("ann") })
	mu.Lock()
	agents = []string{"ann"}
	mu.Unlock()
	waitFor(t, "ann back", func() bool { return g2.node.Present("ann") })
	// A node that dies says nothing more: its announcement goes stale.
	g1.node.Close()
	waitFor(t, "ann gone from n2 after n1 died", func() bool { return !g2.node.Present("ann") })
}

func TestStatusAndEphemeralBroadcasts(t *testing.T) {
	url := database(t)
	nats := natstest.Start(t)
	g1, g2 := join(t, "n1", url, nats), join(t, "n2", url, nats)
	statuses := make(chan string, 4)
	g2.node.OnStatus(func(agent string, s model.AgentStatus) { statuses <- agent + "=" + string(s) })
	typing := make(chan string, 4)
	g2.node.OnEphemeral(func(c model.Chat, evs []model.Event) { typing <- c.ID + ":" + string(evs[0].Type) })
	dir := make(chan struct{}, 1)
	g2.node.OnDirectory(func() { dir <- struct{}{} })
	g1.node.PublishStatus("ann", model.StatusOnline)
	g1.node.PublishEphemeral(&model.Chat{ID: "x"}, []model.Event{{Type: model.EventTypingStarted}})
	g1.node.PublishDirectory()
	for _, want := range []string{"ann=online"} {
		select {
		case got := <-statuses:
			if got != want {
				t.Errorf("status %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no status broadcast")
		}
	}
	select {
	case got := <-typing:
		if got != "x:"+string(model.EventTypingStarted) {
			t.Errorf("ephemeral %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ephemeral broadcast")
	}
	select {
	case <-dir:
	case <-time.After(5 * time.Second):
		t.Fatal("no directory broadcast")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGapWaitsForThePeerBeforeTheStore(t *testing.T) {
	url := database(t)
	nats := natstest.Start(t)
	// A long hold and no reconciler: only the peer's message can close the gap.
	o := cluster.Options{NATS: nats, Reconcile: time.Hour, Hold: 5 * time.Second}
	g1, g2 := joinWith(t, "n1", url, o), joinWith(t, "n2", url, o)
	c1 := collect(g1)
	go func() {
		for b := range g2.out {
			b.Done()
		}
	}()
	create(t, g1, "chat-d")
	c1.waitSeqs(t, "chat-d", 1)
	// n2 commits seq 2 and publishes it only after n1 committed seq 3
	// (two nodes writing one chat at once): n1 holds 3 back, then
	// delivers 2 and 3 from NATS without reading the store.
	c2, evs2, _, err := g2.st.Mutate(context.Background(), "chat-d", "", func(c *model.Chat) ([]model.Event, error) {
		return []model.Event{{Type: model.EventMessage, Text: "from n2"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	go func() { defer close(sent); g1.send(t, "chat-d", "from n1") }() // answered once 3 is delivered
	time.Sleep(100 * time.Millisecond)
	c1.mu.Lock()
	early := len(c1.seqs["chat-d"])
	c1.mu.Unlock()
	if early != 1 {
		t.Fatalf("n1 delivered %d events before the gap closed, want 1", early)
	}
	g2.commit(c2, evs2)
	c1.waitSeqs(t, "chat-d", 3)
	<-sent
	if f := g1.node.Stats().Filled; f != 0 {
		t.Errorf("n1 read %d events from the store; the peer brought them", f)
	}
}
