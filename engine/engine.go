package engine

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/model"
)

// EventLog is the chats' event log with the chat records beside it: the
// seam a clustered backend replaces (store/logtest is its conformance
// suite).
type EventLog interface {
	// CreateChat stores a chat with its first events; a start key already
	// used on the deployment answers that chat (existing = true).
	CreateChat(ctx context.Context, n model.NewChat) (model.Chat, bool, error)
	// Mutate changes a chat record and appends fn's events with the chat's
	// next seqs in one transaction, idempotent per request id.
	Mutate(ctx context.Context, id, requestID string, fn model.MutateFunc) (model.Chat, []model.Event, bool, error)
	Chat(ctx context.Context, id string) (model.Chat, error)
	OpenChats(ctx context.Context, fn func(model.Chat) error) error
	EventsAfter(ctx context.Context, chatID string, after uint64, limit int) ([]model.Event, error)
	EventsBefore(ctx context.Context, chatID string, before uint64, limit int) ([]model.Event, error)
	// Follow hands every later commit to the engine in commit order; a
	// write is answered once the engine called its batch's Done.
	Follow() (<-chan *model.Batch, error)
	PastChats(ctx context.Context, agentID string, after model.PastCursor, limit int) ([]model.Chat, model.PastCursor, error)
}

// SeatedLog is a log that itself refuses to give an agent more chats than
// its capacity: a PostgreSQL store shared by several engines (a cluster's
// nodes, or two leaders overlapping at a change), where one engine's
// reservations (agentState.reserve) do not see the others' assignments.
// When the engine's log is one, every write that gives a chat to an agent
// (a routed or accepted assignment, a transfer to an agent) goes through
// MutateSeated with the agent's MaxChats; model.ErrNoSeat is ErrAtCapacity.
// A log of one engine (the bbolt file) needs none: the reservations suffice.
type SeatedLog interface {
	// MutateSeated is Mutate that fails with model.ErrNoSeat, writing
	// nothing, when after fn seat.Agent would be a connected, non-supervisor
	// participant of more than seat.Max open chats of the whole log.
	MutateSeated(ctx context.Context, id, requestID string, seat model.Seat, fn model.MutateFunc) (model.Chat, []model.Event, bool, error)
}

// Identities are visitors known across chats.
type Identities interface {
	Identity(ctx context.Context, id string) (model.Identity, error)
	PutIdentity(ctx context.Context, idn model.Identity) error
	ChatsOfIdentity(ctx context.Context, identityID string) ([]model.Chat, error)
}

// Tokens are visitors' bearer tokens, by hash.
type Tokens interface {
	LookupToken(ctx context.Context, hash []byte) (model.Token, error)
	IssueToken(ctx context.Context, hash []byte, t model.Token) error
}

// Files are the files of chats, each written with the event announcing it.
type Files interface {
	AddFile(ctx context.Context, chatID, requestID string, f model.File, content []byte, fn model.MutateFunc) (model.Chat, []model.Event, bool, error)
	AddStagedFile(ctx context.Context, chatID, requestID string, f model.File, fn model.MutateFunc) (model.Chat, []model.Event, bool, error)
	FileInfo(ctx context.Context, id string) (model.File, error)
	FileContent(ctx context.Context, id string) (model.File, []byte, error)
	FileReader(f model.File) io.Reader
}

// LeftMessages are the messages visitors leave when nobody is available,
// each written with its webhook deliveries.
type LeftMessages interface {
	LeaveMessage(ctx context.Context, m model.LeftMessage, idn *model.Identity, outbox []model.OutboxEntry) error
	AnswerMessage(ctx context.Context, id string, a model.Answer, outbox func(model.LeftMessage) []model.OutboxEntry) (model.LeftMessage, error)
	LeftMessages(ctx context.Context, answered bool, limit int) ([]model.LeftMessage, error)
	LeftMessagesOf(ctx context.Context, identityID string, limit int) ([]model.LeftMessage, error)
}

// Log is everything the engine persists; the bbolt store is one.
type Log interface {
	EventLog
	Identities
	Tokens
	Files
	LeftMessages
}

// Statuses stores agents' statuses (the store does).
type Statuses interface {
	AgentStatuses(ctx context.Context) (map[string]model.AgentStatus, error)
	SetAgentStatus(ctx context.Context, agentID string, status model.AgentStatus) error
}

// An Observer receives a chat's new events: committed ones (seq > 0) in
// commit order, and ephemeral ones (typing, seq 0). It must not block.
type Observer func(c *model.Chat, evs []model.Event)

// Agent statuses.
const (
	StatusOnline  = model.StatusOnline
	StatusAway    = model.StatusAway
	StatusOffline = model.StatusOffline
)

// Engine runs chats.
type Engine struct {
	cfg       atomic.Pointer[config.Config] // a snapshot, replaced whole by SetConfig, never mutated
	log       Log
	now       func() time.Time
	logger    *slog.Logger
	observers []Observer
	// cfgObservers hear of every configuration put in force, synchronously:
	// what a caller writes after SetConfig returns is under the new one.
	cfgObservers []func(*config.Config)
	kick         chan struct{}

	msgObservers []MessageObserver                                           // messages.go
	msgOutbox    func(event string, m model.LeftMessage) []model.OutboxEntry // Options.MessageOutbox

	presence        func(agentID string) bool // whether the agent has a live connection
	leading         func() bool
	statusChosen    func(agentID string, status model.AgentStatus)
	ephemeral       func(c *model.Chat, evs []model.Event)
	routingReleased func(chatID string)
	presenceGrace   time.Duration
	statuses        Statuses // nil: statuses live in memory only

	tokensMu sync.Mutex
	tokens   map[string]model.Token // resolved visitor tokens by hash
	startKey []byte                 // derives the tokens of idempotent starts

	mu        sync.Mutex
	chats     map[string]*model.Chat // open chats, without userData
	agents    map[string]*agentState
	positions map[string]int         // last queue position told to each waiting chat
	holds     map[string]*time.Timer // chats kept out of routing (hold.go), each with its timeout
	released  map[string]bool        // waiting chats whose hold was released (hold.go)
	queuedAt  map[string]int64       // when each waiting chat entered its queue, unix ms
	waits     map[string]*waitRing   // recent waits of the chats served, per queue (waits.go)
}

type agentState struct {
	cfg         config.Agent
	status      model.AgentStatus
	chats       map[string]bool
	lastFree    time.Time // when it last had a chat assigned or freed: the tie-break
	absentSince time.Time // online with no connection since; zero while connected
	note        string    // why the engine last changed its status, for the agent; cleared when it sets one
	// accepting holds a seat for each chat being given to the agent (routed,
	// accepted or transferred) until that write commits or fails, so that
	// concurrent assignments never take it beyond its capacity.
	accepting map[string]bool
	// offline mirrors status == StatusOffline (or the agent removed) for
	// the one check made inside a write transaction (assign): an atomic
	// read there, never the engine's mutex.
	offline atomic.Bool
}

// setStatus changes the agent's status; e.mu must be held.
func (a *agentState) setStatus(status model.AgentStatus) {
	a.status = status
	a.offline.Store(status == StatusOffline)
}

// load is how many seats the agent's chats take, those being given to it
// included; e.mu must be held.
func (a *agentState) load() int {
	n := len(a.chats)
	for id := range a.accepting {
		if !a.chats[id] {
			n++
		}
	}
	return n
}

// reserve holds a seat for chatID if the agent has one free; e.mu must be
// held. The caller deletes chatID from accepting once its write is done.
func (a *agentState) reserve(chatID string) bool {
	if a.load() >= a.cfg.MaxChats {
		return false
	}
	if a.accepting == nil {
		a.accepting = map[string]bool{}
	}
	a.accepting[chatID] = true
	return true
}

// Options are the engine's dependencies besides config and log.
type Options struct {
	Now    func() time.Time // nil means time.Now
	Logger *slog.Logger
	// Presence reports whether an agent has a live connection; an online
	// agent without one for PresenceGrace turns away. nil disables it.
	Presence      func(agentID string) bool
	PresenceGrace time.Duration // default 60 s
	// Statuses keeps the agents' chosen statuses across restarts, so that an
	// agent online before one gets its grace period after it. nil keeps
	// them in memory: every agent starts offline.
	Statuses Statuses
	// StartKey is the server secret that derives the token of a start with
	// a requestId, so that a retry can be answered with it again: keep it
	// across restarts (the store's session key). Empty: a random one, good
	// for this process only.
	StartKey []byte
	// MessageOutbox, if set, makes the webhook deliveries of a left
	// message's event (MessageLeft, MessageAnswered), written with it. It
	// must be pure: it may run more than once for one write.
	MessageOutbox func(event string, m model.LeftMessage) []model.OutboxEntry
	// Leading reports whether this engine routes and sweeps: on a cluster,
	// one node at a time does (its leader); the others follow the commits
	// and serve their clients. nil: always.
	Leading func() bool
	// StatusChosen hears of every status this engine stores for an agent
	// (the agent's choice, or away after its grace), for the other nodes.
	StatusChosen func(agentID string, status model.AgentStatus)
	// Ephemeral hears of the events this engine hands its observers
	// without storing them (typing), for the other nodes' clients.
	Ephemeral func(c *model.Chat, evs []model.Event)
	// RoutingReleased hears of every routing hold this engine releases
	// (a guest's stream attached here), for the other nodes (ApplyRelease).
	RoutingReleased func(chatID string)
}

// StartRetryWindow is how long after a chat was created a retried startChat
// (the same requestId) still gets its token. Later the retry names the chat
// without a token: a requestId is no credential for ever.
const StartRetryWindow = 5 * time.Minute

// New returns an engine. Observe and Load before Run.
func New(cfg config.Config, log Log, o Options) *Engine {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	e := &Engine{
		log: log, now: o.Now, logger: o.Logger,
		kick:            make(chan struct{}, 1),
		chats:           make(map[string]*model.Chat),
		agents:          make(map[string]*agentState),
		positions:       make(map[string]int),
		queuedAt:        make(map[string]int64),
		waits:           make(map[string]*waitRing),
		tokens:          make(map[string]model.Token),
		presence:        o.Presence,
		presenceGrace:   o.PresenceGrace,
		msgOutbox:       o.MessageOutbox,
		statuses:        o.Statuses,
		leading:         o.Leading,
		statusChosen:    o.StatusChosen,
		ephemeral:       o.Ephemeral,
		routingReleased: o.RoutingReleased,
	}
	if e.leading == nil {
		e.leading = func() bool { return true }
	}
	if e.presenceGrace == 0 {
		e.presenceGrace = time.Minute
	}
	secret := o.StartKey
	if len(secret) == 0 {
		secret = []byte(newSecret())
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("cxgate start token key")) // its own key, apart from the session key's other uses
	e.startKey = m.Sum(nil)
	e.cfg.Store(&cfg)
	e.reconcileAgents(&cfg)
	return e
}

// Config returns the configuration in force: a snapshot that is never
// changed, so a caller may read it without locks. Take it once per operation.
func (e *Engine) Config() *config.Config { return e.cfg.Load() }

// SetConfig replaces the configuration at run time: deployments, queues and
// agents take effect at once. Agents that were removed go offline and their
// chats are queued again; everything else keeps its state.
func (e *Engine) SetConfig(ctx context.Context, c config.Config) error {
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	e.cfg.Store(&c)
	for _, o := range e.cfgObservers {
		o(&c)
	}
	removed := e.reconcileAgents(&c)
	for _, id := range removed {
		e.requeueAgentChats(ctx, id, "removed")
	}
	e.wake()
	return nil
}

// reconcileAgents brings the agents' state in line with c and returns the ids
// of agents that are no longer configured.
func (e *Engine) reconcileAgents(c *config.Config) (removed []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range c.Agents {
		seen[a.ID] = true
		if st := e.agents[a.ID]; st != nil {
			st.cfg = a
			continue
		}
		st := &agentState{cfg: a, chats: map[string]bool{}}
		st.setStatus(StatusOffline)
		e.agents[a.ID] = st
	}
	for id, st := range e.agents {
		if !seen[id] {
			st.setStatus(StatusOffline)
			removed = append(removed, id)
			delete(e.agents, id)
		}
	}
	return removed
}

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Observe adds an observer. Call before the store commits anything.
func (e *Engine) Observe(o Observer) { e.observers = append(e.observers, o) }

// ObserveConfig adds an observer of the configuration: it is called with the
// one in force now and then with each one SetConfig puts in force, before
// SetConfig returns. Call before Load.
func (e *Engine) ObserveConfig(o func(*config.Config)) {
	e.cfgObservers = append(e.cfgObservers, o)
	o(e.Config())
}

// Load rebuilds the view of open chats from the log after a restart, and
// the agents' statuses: an agent that was online is online again, with the
// presence grace counted from now, so that it keeps its chats if it
// reconnects in time and loses them to the queue if it does not.
//
// A chat held by an agent no longer in the directory (an imported
// configuration dropped it) is queued again, as when an admin removes one.
func (e *Engine) Load(ctx context.Context) error {
	commits, err := e.log.Follow()
	if err != nil {
		return fmt.Errorf("chat: follow the log: %w", err)
	}
	go e.dispatch(commits)
	gone := map[string]bool{}
	err = e.log.OpenChats(ctx, func(c model.Chat) error {
		e.mu.Lock()
		e.track(&c)
		for _, p := range c.Participants {
			if p.Connected() && e.agents[p.ID] == nil {
				gone[p.ID] = true
			}
		}
		e.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	for id := range gone {
		e.logger.Warn("agent no longer configured: its chats are queued again", "agent", id)
		e.requeueAgentChats(ctx, id, "removed")
	}
	if e.statuses == nil {
		return nil
	}
	stored, err := e.statuses.AgentStatuses(ctx)
	if err != nil {
		return err
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, status := range stored {
		a := e.agents[id]
		if a == nil {
			continue
		}
		switch status {
		case StatusOnline:
			a.setStatus(StatusOnline)
			a.lastFree = now
			if e.presence != nil {
				a.absentSince = now
			}
		case StatusAway:
			a.setStatus(StatusAway)
		}
	}
	return nil
}

// saveStatus stores an agent's status for the next start; a failure costs
// only that (the agent starts offline then), so it is logged.
func (e *Engine) saveStatus(ctx context.Context, agentID string, status model.AgentStatus) {
	if e.statusChosen != nil {
		e.statusChosen(agentID, status)
	}
	if e.statuses == nil {
		return
	}
	if err := e.statuses.SetAgentStatus(ctx, agentID, status); err != nil {
		e.logger.Error("store agent status", "agent", agentID, "status", status, "err", err)
	}
}

// dispatch is the engine's fan-out goroutine: it takes the log's commits in
// commit order, updates the view, runs the observers (the bus's deliveries,
// metrics, webhooks' wake-up) and then answers the batch's writers. It ends
// when the log closes.
func (e *Engine) dispatch(commits <-chan *model.Batch) {
	for b := range commits {
		e.committed(b.Writes)
		b.Done()
	}
}

// committed applies one batch of commits to the view and the observers.
func (e *Engine) committed(batch []model.Committed) {
	routing := false
	for i := range batch {
		c := &batch[i].Chat
		e.mu.Lock()
		e.track(c)
		if c.State == model.StateQueued {
			routing = true
		}
		e.mu.Unlock()
		for _, o := range e.observers {
			o(c, batch[i].Events)
		}
	}
	if routing {
		e.wake()
	}
}

// track updates the view from a committed chat; e.mu must be held.
func (e *Engine) track(c *model.Chat) {
	old := e.chats[c.ID]
	if old != nil && c.LastSeq < old.LastSeq {
		return // an older record than the view's: a late copy from another node
	}
	if old != nil {
		for _, p := range old.Participants {
			if a := e.agents[p.ID]; a != nil {
				delete(a.chats, c.ID)
			}
		}
	}
	e.trackHoldLocked(c)
	switch {
	case c.State != model.StateQueued:
		if at, ok := e.queuedAt[c.ID]; ok {
			e.noteServedLocked(old, c, at)
		}
		delete(e.queuedAt, c.ID)
	case old == nil || old.State != model.StateQueued:
		e.queuedAt[c.ID] = c.LastActivity // the commit that queued it
	}
	if c.State == model.StateEnded || dormant(c) {
		delete(e.chats, c.ID)
		if old != nil {
			for _, p := range old.Participants {
				if a := e.agents[p.ID]; a != nil && p.Connected() {
					a.lastFree = e.now()
				}
			}
		}
		return
	}
	v := *c
	v.UserData = nil
	v.Participants = slices.Clone(c.Participants)
	e.chats[c.ID] = &v
	for _, p := range v.Participants {
		if a := e.agents[p.ID]; a != nil && p.Connected() {
			a.chats[c.ID] = true
		}
	}
	if old != nil {
		// An agent who left a chat that goes on (a transfer, a requeue, a
		// resolved conversation) has a seat free from now: the tie-break.
		for _, p := range old.Participants {
			if a := e.agents[p.ID]; a != nil && p.Connected() && !a.chats[c.ID] {
				a.lastFree = e.now()
			}
		}
	}
}

// dormant reports whether an open chat needs no place in the view: an
// asynchronous conversation between threads, with no agent in it. Such
// conversations may number in the millions and last for years; routing,
// sweeps and presence have nothing to do with them until the visitor writes
// again, and that commit brings the chat back into the view.
func dormant(c *model.Chat) bool {
	if c.Mode != config.ModeAsync || c.State != model.StateIdle || c.ThreadOpen {
		return false
	}
	for _, p := range c.Participants {
		if p.Connected() {
			return false
		}
	}
	return true
}

// StartRequest is a visitor's request for a chat.
type StartRequest struct {
	Deployment string
	Visitor    model.Profile
	Subject    string
	UserData   json.RawMessage
	RequestID  string // the client's retry key; "" for none
	IdentityID string // an existing identity; "" for a new one
	// Identity, when set, is written (created or replaced) with the chat;
	// its ID is used when IdentityID is empty.
	Identity          *model.Identity
	IdentityInitiated bool     // a conversation the visitor started from its list (async)
	Priority          int      // 0–10, higher first
	Queue             string   // overrides the deployment's queue when set
	Skills            []string // needed beside the queue's
	Language          string
	Wire              model.Wire // the protocol the visitor speaks; "" is native
	// HoldRouting, when positive, keeps the new chat out of routing until
	// ReleaseRouting or for this long, whichever comes first.
	HoldRouting time.Duration
}

// Started is a new (or, for a retried request, the same) chat and its token.
// Token is empty for a retry later than StartRetryWindow.
type Started struct {
	Chat     model.Chat
	Token    string
	Existing bool
}

// Start creates a chat in the deployment's queue. A retry with the same
// RequestID returns the first chat, with the same token within
// StartRetryWindow of its creation and without one after.
func (e *Engine) Start(ctx context.Context, r StartRequest) (Started, error) {
	d, ok := e.Config().Deployment(r.Deployment)
	if !ok {
		return Started{}, ErrNoDeployment
	}
	now := e.now().UnixMilli()
	chatID := newID()
	token := newSecret()
	if r.RequestID != "" {
		// The token of an idempotent start is derived from the request id
		// under a server secret, so a retry can be answered with it again
		// while the store keeps only its hash, and nobody computes it from
		// the request id alone.
		token = e.deriveToken(r.RequestID, r.Deployment)
	}
	identity := r.IdentityID
	idn := r.Identity
	switch {
	case identity == "" && idn != nil:
		identity = idn.ID
	case identity == "":
		identity = newID()
		idn = &model.Identity{ID: identity, Profile: r.Visitor, CreatedAt: now}
	}
	wire := r.Wire
	if wire == "" {
		wire = "native" // bus.WireNative
	}
	queue := d.Queue
	if r.Queue != "" {
		if _, ok := e.Config().Queue(r.Queue); !ok {
			return Started{}, ErrUnknownQueue
		}
		queue = r.Queue
	}
	c := model.Chat{
		ID: chatID, Deployment: d.Key, Mode: d.Mode, State: model.StateQueued, Queue: queue,
		Priority: r.Priority, Skills: r.Skills, Language: r.Language, IdentityID: identity, Visitor: r.Visitor, Subject: r.Subject,
		UserData: r.UserData, CreatedAt: now, LastActivity: now, IdentityInitiated: r.IdentityInitiated, Wire: wire,
	}
	if r.HoldRouting > 0 {
		c.HoldUntil = now + r.HoldRouting.Milliseconds()
	}
	joined := model.Event{Type: model.EventParticipantJoined, Time: now,
		From: model.Party{ID: identity, Name: visitorName(r.Visitor), Type: model.PartyClient}}
	if r.HoldRouting > 0 {
		e.holdRouting(chatID, r.HoldRouting) // before the commit, which wakes the router
	}
	created, existing, err := e.log.CreateChat(ctx, model.NewChat{
		Chat: c, Identity: idn, TokenHash: model.HashToken(token), StartKey: r.RequestID,
		Events: []model.Event{joined},
	})
	if err != nil || created.ID != chatID {
		e.ReleaseRouting(chatID) // no such chat: a failure, or a retry answered with the first chat
	}
	if err != nil {
		return Started{}, fmt.Errorf("chat: start: %w", err)
	}
	if existing && now-created.CreatedAt > StartRetryWindow.Milliseconds() {
		token = ""
	}
	return Started{Chat: created, Token: token, Existing: existing}, nil
}

func visitorName(p model.Profile) string {
	switch {
	case p.Nickname != "":
		return p.Nickname
	case p.Firstname != "" || p.Lastname != "":
		return p.Firstname + " " + p.Lastname
	}
	return "Visitor"
}

// VisitorName is the name a visitor's events carry.
func VisitorName(p model.Profile) string { return visitorName(p) }

// Mutate changes an open chat and appends events, mapping store errors to the
// engine's. fn sees the chat and returns the events to append.
func (e *Engine) Mutate(ctx context.Context, chatID, requestID string, fn model.MutateFunc) (model.Chat, []model.Event, error) {
	c, evs, _, err := e.log.Mutate(ctx, chatID, requestID, fn)
	if errors.Is(err, model.ErrNotFound) {
		return c, nil, ErrNotFound
	}
	return c, evs, err
}

// mutateSeated is Mutate for a write that gives chatID to agent a: through
// the log's MutateSeated when it is a SeatedLog. Its refusal is
// ErrAtCapacity, wrapped with model.ErrNoSeat: the store knew of chats this
// engine's view does not hold yet.
func (e *Engine) mutateSeated(ctx context.Context, chatID string, a config.Agent, fn model.MutateFunc) (model.Chat, []model.Event, error) {
	sl, ok := e.log.(SeatedLog)
	if !ok {
		return e.Mutate(ctx, chatID, "", fn)
	}
	c, evs, _, err := sl.MutateSeated(ctx, chatID, "", model.Seat{Agent: a.ID, Max: a.MaxChats}, fn)
	switch {
	case errors.Is(err, model.ErrNotFound):
		return c, nil, ErrNotFound
	case errors.Is(err, model.ErrNoSeat):
		return c, nil, fmt.Errorf("%w: %w", ErrAtCapacity, err)
	}
	return c, evs, err
}

// Append adds one event from a participant to an open chat. In an
// asynchronous chat it also keeps the thread rule for events the visitor
// sees (a message after
// threadInactivity closes the old thread and opens a new one, both as events
// of the log), refuses visitor messages while the chat is locked, and queues
// an idle conversation again when the visitor writes. It returns the event
// it was given, as stored.
func (e *Engine) Append(ctx context.Context, chatID, requestID string, ev model.Event) (model.Event, error) {
	_, evs, err := e.Mutate(ctx, chatID, requestID, func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, ErrEnded
		}
		// Internal events (notes, whispers) leave the threads alone: a
		// thread opened or closed by one would tell the visitor and the
		// webhooks (thread.created) that agents wrote something.
		if c.Mode != config.ModeAsync || ev.Internal {
			return []model.Event{ev}, nil
		}
		fromVisitor := ev.From.Type == model.PartyClient
		if c.Locked && fromVisitor {
			return nil, ErrLocked
		}
		out := e.threadEvents(c, ev.Time)
		if c.State == model.StateIdle && fromVisitor {
			c.State = model.StateQueued
		}
		return append(out, ev), nil
	})
	if err != nil {
		return model.Event{}, err
	}
	if len(evs) == 0 {
		return model.Event{}, fmt.Errorf("chat: append to %s: nothing appended", chatID)
	}
	return evs[len(evs)-1], nil
}

// threadEvents closes c's thread if it has been inactive too long and opens
// a new one if none is open, returning the boundary events.
func (e *Engine) threadEvents(c *model.Chat, now int64) []model.Event {
	var out []model.Event
	if c.ThreadOpen && e.threadExpired(c, now) {
		out = append(out, e.closeThread(c, now, "inactivity"))
	}
	if !c.ThreadOpen {
		c.Thread++
		c.ThreadOpen = true
		data, _ := json.Marshal(map[string]any{"thread": c.Thread, "identityInitiated": c.IdentityInitiated && c.Thread == 1})
		out = append(out, model.Event{Type: model.EventThreadOpened, Time: now,
			From: model.System, Data: data})
	}
	return out
}

func (e *Engine) threadExpired(c *model.Chat, now int64) bool {
	d := e.Config().DeploymentOrDefaults(c.Deployment)
	return now-c.LastActivity > d.ThreadInactivity.Milliseconds()
}

func (e *Engine) closeThread(c *model.Chat, now int64, reason string) model.Event {
	c.ThreadOpen = false
	data, _ := json.Marshal(map[string]any{"thread": c.Thread, "reason": reason})
	return model.Event{Type: model.EventThreadClosed, Time: now, From: model.System, Data: data}
}

// Resolve closes an agent's intervention. In a live chat that ends the chat;
// in an asynchronous one the agent leaves, the conversation stays open and
// goes idle until the visitor writes again.
func (e *Engine) Resolve(ctx context.Context, chatID string, agent model.Participant, disposition string) (model.Chat, error) {
	now := e.now().UnixMilli()
	data, _ := json.Marshal(map[string]string{"by": "agent", "agent": agent.ID, "disposition": disposition})
	c, _, err := e.Mutate(ctx, chatID, "", func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, ErrEnded
		}
		if c.Mode != config.ModeAsync {
			return e.endEvents(c, PartyOf(agent), "agent", data, now), nil
		}
		var evs []model.Event
		connected := 0
		for i := range c.Participants {
			p := &c.Participants[i]
			if !p.Connected() {
				continue
			}
			if p.ID == agent.ID {
				p.LeftAt = now
				evs = append(evs, model.Event{Type: model.EventParticipantLeft, Time: now, From: PartyOf(*p)})
			} else {
				connected++
			}
		}
		if len(evs) == 0 {
			return nil, ErrNotParticipant
		}
		if connected == 0 {
			c.State = model.StateIdle
		}
		return append(evs, model.Event{Type: model.EventResolved, Time: now, From: PartyOf(agent), Data: data}), nil
	})
	if err == nil {
		e.wake()
	}
	return c, err
}

// SetLocked locks or unlocks an asynchronous conversation; a locked one
// refuses the visitor's messages.
func (e *Engine) SetLocked(ctx context.Context, chatID string, by model.Party, locked bool) (model.Chat, error) {
	now := e.now().UnixMilli()
	c, _, err := e.Mutate(ctx, chatID, "", func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, ErrEnded
		}
		if c.Locked == locked {
			return nil, nil
		}
		c.Locked = locked
		typ := model.EventChatUnlocked
		if locked {
			typ = model.EventChatLocked
		}
		return []model.Event{{Type: typ, Time: now, From: by}}, nil
	})
	return c, err
}

// End ends an open chat: everyone still connected leaves, then ChatEnded.
// by says who ended it (model.EndedBy*).
func (e *Engine) End(ctx context.Context, chatID string, from model.Party, by model.EndedBy) (model.Chat, error) {
	now := e.now().UnixMilli()
	data, _ := json.Marshal(map[string]model.EndedBy{"by": by})
	c, _, err := e.Mutate(ctx, chatID, "", func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, ErrEnded
		}
		return e.endEvents(c, from, by, data, now), nil
	})
	if err == nil {
		e.wake()
	}
	return c, err
}

// endEvents ends c in place and returns the events that say so.
func (e *Engine) endEvents(c *model.Chat, from model.Party, by model.EndedBy, data json.RawMessage, now int64) []model.Event {
	var evs []model.Event
	if by == "visitor" && c.Mode != config.ModeAsync {
		evs = append(evs, model.Event{Type: model.EventParticipantLeft, Time: now,
			From: model.Party{ID: c.IdentityID, Name: visitorName(c.Visitor), Type: model.PartyClient}})
	}
	for i := range c.Participants {
		p := &c.Participants[i]
		if p.Connected() {
			p.LeftAt = now
			evs = append(evs, model.Event{Type: model.EventParticipantLeft, Time: now, From: PartyOf(*p)})
		}
	}
	if c.ThreadOpen {
		evs = append(evs, e.closeThread(c, now, "ended"))
	}
	c.State, c.EndedAt, c.EndedBy = model.StateEnded, now, by
	if len(data) == 0 {
		data, _ = json.Marshal(map[string]model.EndedBy{"by": by})
	}
	return append(evs, model.Event{Type: model.EventChatEnded, Time: now, From: from, Data: data})
}

func partyType(p model.Participant) model.PartyType {
	switch {
	case p.Supervisor:
		return model.PartySupervisor
	case p.Kind == model.KindBot:
		return model.PartyBot
	}
	return model.PartyAgent
}

// PartyOf is the event author for an agent participant.
func PartyOf(p model.Participant) model.Party {
	return model.Party{ID: p.ID, Name: p.Name, Type: partyType(p)}
}

// Typing fans an ephemeral typing indicator out to the chat's observers.
// A chat outside the view is read from the log: it may be dormant.
func (e *Engine) Typing(ctx context.Context, chatID string, from model.Party, isTyping bool) error {
	e.mu.Lock()
	v, ok := e.chats[chatID]
	var c model.Chat
	if ok {
		c = *v
		c.Participants = slices.Clone(v.Participants)
	}
	e.mu.Unlock()
	if !ok {
		var err error
		if c, err = e.Chat(ctx, chatID); err != nil {
			return err
		}
		if c.State == model.StateEnded {
			return ErrEnded
		}
		c.UserData = nil
	}
	typ := model.EventTypingStopped
	if isTyping {
		typ = model.EventTypingStarted
	}
	evs := []model.Event{{Type: typ, From: from, Time: e.now().UnixMilli()}}
	for _, o := range e.observers {
		o(&c, evs)
	}
	if e.ephemeral != nil {
		e.ephemeral(&c, evs)
	}
	return nil
}

// DeliverEphemeral hands events that another node did not store (typing)
// to the observers, for this node's clients of chat c.
func (e *Engine) DeliverEphemeral(c model.Chat, evs []model.Event) {
	for _, o := range e.observers {
		o(&c, evs)
	}
}

// ApplyStatus puts in force a status that another node stored for an agent
// (its choice there, or away after its grace): the view changes, nothing
// is written, and the node that chose it has requeued the agent's chats.
func (e *Engine) ApplyStatus(agentID string, status model.AgentStatus) {
	e.mu.Lock()
	a := e.agents[agentID]
	changed := a != nil && a.status != status
	if changed {
		if a.status != StatusOnline && status == StatusOnline && a.lastFree.IsZero() {
			a.lastFree = e.now()
		}
		a.setStatus(status)
		a.absentSince = time.Time{}
	}
	e.mu.Unlock()
	if !changed {
		return // the periodic reload of every status, mostly
	}
	if status == StatusOffline && e.leading() {
		// The node that chose it requeued the agent's chats as its view
		// had them; a chat this leader gave the agent meanwhile is
		// requeued here (a no-op for chats the agent already left).
		e.requeueAgentChats(context.Background(), agentID, "offline")
	}
	e.wake()
}

// ReloadStatuses reads every agent's stored status into the view: a node
// that missed a broadcast catches up. A status read as it changes is
// corrected by the next reload or broadcast.
func (e *Engine) ReloadStatuses(ctx context.Context) error {
	if e.statuses == nil {
		return nil
	}
	stored, err := e.statuses.AgentStatuses(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	ids := make([]string, 0, len(e.agents))
	for id := range e.agents {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	for _, id := range ids {
		status, ok := stored[id]
		if !ok {
			status = StatusOffline
		}
		e.ApplyStatus(id, status)
	}
	return nil
}

// Wake makes the router look at the queue again: a node that became the
// leader calls it.
func (e *Engine) Wake() { e.wake() }

// Chat reads a chat from the log.
func (e *Engine) Chat(ctx context.Context, id string) (model.Chat, error) {
	c, err := e.log.Chat(ctx, id)
	if errors.Is(err, model.ErrNotFound) {
		return c, ErrNotFound
	}
	return c, err
}

// EventsAfter reads a chat's log after seq.
func (e *Engine) EventsAfter(ctx context.Context, chatID string, after uint64, limit int) ([]model.Event, error) {
	return e.log.EventsAfter(ctx, chatID, after, limit)
}

// EventsBefore reads a chat's log before seq, oldest first.
func (e *Engine) EventsBefore(ctx context.Context, chatID string, before uint64, limit int) ([]model.Event, error) {
	return e.log.EventsBefore(ctx, chatID, before, limit)
}

// VisitorToken resolves a visitor token. Tokens never change once issued,
// so resolved ones are kept in memory (a bounded map): every command of a
// visitor starts here.
func (e *Engine) VisitorToken(ctx context.Context, token string) (model.Token, error) {
	hash := model.HashToken(token)
	key := string(hash)
	e.tokensMu.Lock()
	t, ok := e.tokens[key]
	e.tokensMu.Unlock()
	if ok {
		return t, nil
	}
	t, err := e.log.LookupToken(ctx, hash)
	if errors.Is(err, model.ErrNotFound) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, err
	}
	e.tokensMu.Lock()
	if len(e.tokens) >= tokenCacheSize {
		for k := range e.tokens { // evict an arbitrary one: a miss costs one read
			delete(e.tokens, k)
			break
		}
	}
	e.tokens[key] = t
	e.tokensMu.Unlock()
	return t, nil
}

// tokenCacheSize bounds the resolved-token cache.
const tokenCacheSize = 1 << 16

// OpenChat returns the in-memory view of an open chat (queued, active or
// idle), without its userData: what the hot paths need to check a session
// without reading the store. false means ended, dormant or unknown: read
// the log then.
func (e *Engine) OpenChat(id string) (model.Chat, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.chats[id]
	if !ok {
		return model.Chat{}, false
	}
	c := *v
	c.Participants = slices.Clone(v.Participants)
	return c, true
}

// IssueToken makes a new visitor token for a chat: for another of the
// identity's conversations, or the same chat on another device.
func (e *Engine) IssueToken(ctx context.Context, c model.Chat) (string, error) {
	token := newSecret()
	err := e.log.IssueToken(ctx, model.HashToken(token), model.Token{Kind: "visitor", ChatID: c.ID,
		IdentityID: c.IdentityID, CreatedAt: e.now().UnixMilli()})
	if err != nil {
		return "", fmt.Errorf("chat: issue token: %w", err)
	}
	return token, nil
}

// Identity reads an identity; ErrNotFound if unknown.
func (e *Engine) Identity(ctx context.Context, id string) (model.Identity, error) {
	idn, err := e.log.Identity(ctx, id)
	if errors.Is(err, model.ErrNotFound) {
		return idn, ErrNotFound
	}
	return idn, err
}

// PutIdentity creates or replaces an identity.
func (e *Engine) PutIdentity(ctx context.Context, idn model.Identity) error {
	return e.log.PutIdentity(ctx, idn)
}

// ChatsOfIdentity lists an identity's conversations, oldest first.
func (e *Engine) ChatsOfIdentity(ctx context.Context, identityID string) ([]model.Chat, error) {
	return e.log.ChatsOfIdentity(ctx, identityID)
}

// AgentByToken finds the configured agent whose token this is: the token's
// hash is compared with each agent's TokenHash in constant time.
func (e *Engine) AgentByToken(token string) (config.Agent, bool) {
	hash := []byte(config.HashToken(token))
	for _, a := range e.Config().Agents {
		if subtle.ConstantTimeCompare([]byte(a.TokenHash), hash) == 1 {
			return a, true
		}
	}
	return config.Agent{}, false
}

// NewID returns a random 128-bit id, URL-safe.
func NewID() string { return newID() }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (e *Engine) deriveToken(requestID, deployment string) string {
	m := hmac.New(sha256.New, e.startKey)
	m.Write([]byte("cxgate visitor token\x00" + deployment + "\x00" + requestID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
