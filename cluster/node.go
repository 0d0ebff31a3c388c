package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cxgate/cxgate/model"
)

// Log is what a node reads of the shared store to fill gaps.
type Log interface {
	Chat(ctx context.Context, id string) (model.Chat, error)
	EventsAfter(ctx context.Context, chatID string, after uint64, limit int) ([]model.Event, error)
	// Heads returns the chats of known whose last seq passed the one given.
	Heads(ctx context.Context, known map[string]uint64) (map[string]uint64, error)
	OpenChats(ctx context.Context, fn func(model.Chat) error) error
}

// Options configure a node.
type Options struct {
	Node   string // this node's name
	NATS   string // NATS URL(s), comma-separated; "" for a node alone
	Log    Log
	Logger *slog.Logger
	// Reconcile is how often the node asks the store for commits NATS did
	// not bring; 2 s. Every fifth pass also looks for open chats it never
	// heard of.
	Reconcile time.Duration
	// Hold is how long a chat's writes after a gap wait for the missing
	// events from NATS before they are read from the store; 30 ms. Two
	// nodes writing one chat within a message's flight make such gaps all
	// the time, and a read each would cost the merger more than the wait.
	Hold time.Duration
	// Announce is how often the node announces its connected agents; 2 s.
	// An announcement is stale after three of them.
	Announce time.Duration
}

// Subjects, under one prefix.
const (
	subjectCommits   = "cxgate.commits"
	subjectPresence  = "cxgate.presence"
	subjectStatus    = "cxgate.status"
	subjectEphemeral = "cxgate.ephemeral"
	subjectDirectory = "cxgate.directory"
	subjectRelease   = "cxgate.release"
)

// Node is this gateway's membership in the cluster.
type Node struct {
	o      Options
	nc     *nats.Conn
	logger *slog.Logger

	remote chan []model.Committed // commits of other nodes, to the merger
	quit   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool

	presenceMu sync.Mutex
	presence   map[string]announcement // by node

	onStatus    atomic.Pointer[func(agentID string, status model.AgentStatus)]
	onEphemeral atomic.Pointer[func(c model.Chat, evs []model.Event)]
	onDirectory atomic.Pointer[func()]
	onRelease   atomic.Pointer[func(chatID string)]

	published, received, filled, dropped atomic.Uint64
}

type announcement struct {
	agents map[string]bool
	at     time.Time
}

// wireCommits is a batch on NATS.
type wireCommits struct {
	Node   string            `json:"n"`
	Writes []model.Committed `json:"w"`
}

type wirePresence struct {
	Node   string   `json:"n"`
	Agents []string `json:"a"`
}

type wireStatus struct {
	Node   string            `json:"n"`
	Agent  string            `json:"a"`
	Status model.AgentStatus `json:"s"`
}

type wireEphemeral struct {
	Node   string        `json:"n"`
	Chat   model.Chat    `json:"c"`
	Events []model.Event `json:"e"`
}

// Join connects to NATS (retrying in the background when it is down at
// start) and subscribes to the cluster's subjects.
func Join(o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Reconcile <= 0 {
		o.Reconcile = 2 * time.Second
	}
	if o.Hold <= 0 {
		o.Hold = 30 * time.Millisecond
	}
	if o.Announce <= 0 {
		o.Announce = 2 * time.Second
	}
	n := &Node{o: o, logger: o.Logger, remote: make(chan []model.Committed, 1024), quit: make(chan struct{}),
		presence: map[string]announcement{}}
	if o.NATS == "" {
		// A node alone on a shared store: no peers to tell, but the same
		// ordering of its own commits, which its store's concurrent
		// transactions may hand over out of seq order.
		return n, nil
	}
	nc, err := nats.Connect(o.NATS,
		nats.Name("cxgate "+o.Node),
		nats.NoEcho(), // a node has its own commits from the store already
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				o.Logger.Warn("cluster: NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { o.Logger.Info("cluster: NATS reconnected", "url", c.ConnectedUrl()) }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			// A slow consumer loses messages: the reconciler fetches them.
			o.Logger.Warn("cluster: NATS", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: NATS %s: %w", o.NATS, err)
	}
	n.nc = nc
	subs := []struct {
		subject string
		cb      nats.MsgHandler
	}{
		{subjectCommits, n.gotCommits},
		{subjectPresence, n.gotPresence},
		{subjectStatus, n.gotStatus},
		{subjectEphemeral, n.gotEphemeral},
		{subjectDirectory, n.gotDirectory},
		{subjectRelease, n.gotRelease},
	}
	for _, s := range subs {
		sub, err := nc.Subscribe(s.subject, s.cb)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("cluster: subscribe %s: %w", s.subject, err)
		}
		_ = sub.SetPendingLimits(1<<20, 1<<30)
	}
	return n, nil
}

// Announce starts announcing the agents connected to this node, as
// localAgents lists them, until Close.
func (n *Node) Announce(localAgents func() []string) {
	if n.nc == nil {
		return
	}
	n.wg.Add(1)
	go n.announce(localAgents)
}

// Connected reports whether the node reaches NATS now (always, without).
func (n *Node) Connected() bool { return n.nc == nil || n.nc.IsConnected() }

// Close leaves the cluster: it stops announcing and closes the connection
// after what it published was sent.
func (n *Node) Close() {
	if n.closed.Swap(true) {
		return
	}
	close(n.quit)
	n.wg.Wait()
	if n.nc != nil {
		_ = n.nc.FlushTimeout(time.Second)
		n.nc.Close()
	}
}

// Stats counts what crossed the node.
type Stats struct {
	Published uint64 // local batches published
	Received  uint64 // remote batches received
	Filled    uint64 // events read from the store to fill gaps
	Dropped   uint64 // events received twice, dropped
}

// Stats reads the counters.
func (n *Node) Stats() Stats {
	return Stats{Published: n.published.Load(), Received: n.received.Load(), Filled: n.filled.Load(), Dropped: n.dropped.Load()}
}

func (n *Node) publish(subject string, v any) {
	if n.nc == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		n.logger.Error("cluster: encode", "subject", subject, "err", err)
		return
	}
	// A failed publish (NATS down beyond the reconnect buffer) loses only
	// the fast path: peers' reconcilers read the store.
	if err := n.nc.Publish(subject, b); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		n.logger.Debug("cluster: publish", "subject", subject, "err", err)
	}
}

// maxMessage bounds one commits message below NATS's default 1 MiB payload.
const maxMessage = 512 << 10

// publishCommits sends a local batch to the other nodes, in messages of at
// most maxMessage (a write bigger than that alone goes alone; NATS refuses
// it beyond its limit and the peers' reconcilers bring it).
func (n *Node) publishCommits(ws []model.Committed) {
	if n.nc == nil {
		return
	}
	n.published.Add(1)
	start, size := 0, 0
	for i := range ws {
		s := len(ws[i].Chat.UserData) + 512
		for _, ev := range ws[i].Events {
			s += len(ev.Text) + len(ev.Data) + 256
		}
		if size+s > maxMessage && i > start {
			n.publish(subjectCommits, wireCommits{Node: n.o.Node, Writes: ws[start:i]})
			start, size = i, 0
		}
		size += s
	}
	if start < len(ws) {
		n.publish(subjectCommits, wireCommits{Node: n.o.Node, Writes: ws[start:]})
	}
}

func (n *Node) gotCommits(m *nats.Msg) {
	var w wireCommits
	if err := json.Unmarshal(m.Data, &w); err != nil {
		n.logger.Error("cluster: bad commits message", "err", err)
		return
	}
	if w.Node == n.o.Node {
		return
	}
	n.received.Add(1)
	select {
	case n.remote <- w.Writes:
	case <-n.quit:
	}
}

// PublishStatus tells the other nodes that an agent's status changed here.
func (n *Node) PublishStatus(agentID string, status model.AgentStatus) {
	n.publish(subjectStatus, wireStatus{Node: n.o.Node, Agent: agentID, Status: status})
}

// OnStatus sets what runs when another node changed an agent's status.
func (n *Node) OnStatus(fn func(agentID string, status model.AgentStatus)) { n.onStatus.Store(&fn) }

func (n *Node) gotStatus(m *nats.Msg) {
	var w wireStatus
	if json.Unmarshal(m.Data, &w) != nil || w.Node == n.o.Node {
		return
	}
	if fn := n.onStatus.Load(); fn != nil {
		(*fn)(w.Agent, w.Status)
	}
}

// PublishEphemeral sends events that are not stored (typing) to the other
// nodes' clients of chat c.
func (n *Node) PublishEphemeral(c *model.Chat, evs []model.Event) {
	v := *c
	v.UserData = nil
	n.publish(subjectEphemeral, wireEphemeral{Node: n.o.Node, Chat: v, Events: evs})
}

// OnEphemeral sets what runs with another node's ephemeral events.
func (n *Node) OnEphemeral(fn func(c model.Chat, evs []model.Event)) { n.onEphemeral.Store(&fn) }

func (n *Node) gotEphemeral(m *nats.Msg) {
	var w wireEphemeral
	if json.Unmarshal(m.Data, &w) != nil || w.Node == n.o.Node {
		return
	}
	if fn := n.onEphemeral.Load(); fn != nil {
		(*fn)(w.Chat, w.Events)
	}
}

// PublishDirectory tells the other nodes that this one changed the
// directory (deployments, queues, agents, webhooks) in the store.
func (n *Node) PublishDirectory() { n.publish(subjectDirectory, wirePresence{Node: n.o.Node}) }

// OnDirectory sets what runs when another node changed the directory.
func (n *Node) OnDirectory(fn func()) { n.onDirectory.Store(&fn) }

func (n *Node) gotDirectory(m *nats.Msg) {
	var w wirePresence
	if json.Unmarshal(m.Data, &w) != nil || w.Node == n.o.Node {
		return
	}
	if fn := n.onDirectory.Load(); fn != nil {
		(*fn)()
	}
}

type wireRelease struct {
	Node string `json:"n"`
	Chat string `json:"c"`
}

// PublishRelease tells the other nodes that a chat held out of routing
// may be routed now (its guest's stream attached here).
func (n *Node) PublishRelease(chatID string) {
	n.publish(subjectRelease, wireRelease{Node: n.o.Node, Chat: chatID})
}

// OnRelease sets what runs when another node released a chat's hold.
func (n *Node) OnRelease(fn func(chatID string)) { n.onRelease.Store(&fn) }

func (n *Node) gotRelease(m *nats.Msg) {
	var w wireRelease
	if json.Unmarshal(m.Data, &w) != nil || w.Node == n.o.Node {
		return
	}
	if fn := n.onRelease.Load(); fn != nil {
		(*fn)(w.Chat)
	}
}
