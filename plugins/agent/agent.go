package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// Name is the plugin's bus name.
const Name = "AgentService"

// Event names.
const (
	EventChatAssigned    = "chatAssigned"
	EventMessageReceived = "messageReceived"
	EventVisitorTyping   = "visitorTyping"
	EventContextUpdated  = "contextUpdated"
	EventChatEnded       = "chatEnded"
	EventResync          = "resync"
	EventThreadOpened    = "threadOpened"
	EventThreadClosed    = "threadClosed"
	EventChatResolved    = "chatResolved"
	EventChatTransferred = "chatTransferred"
	// EventChatRated tells the chat's agents, present or past, the
	// visitor's rating once the chat ended: {chatId, rating, comment, timestamp}.
	EventChatRated = "chatRated"
)

// Service is the AgentService plugin.
type Service struct {
	engine     *engine.Engine
	bus        *bus.Bus
	adminToken string

	mu      sync.Mutex
	streams map[string]*stream
	base    uint64

	qmu       sync.Mutex
	announced map[string][]string // waiting chat → the agents told it waits (queue.go)
}

// Register registers the plugin on b and observes the engine. adminToken, if
// not empty, authenticates as the admin.
func Register(b *bus.Bus, e *engine.Engine, adminToken string) (*Service, error) {
	p, err := b.RegisterPlugin(Name)
	if err != nil {
		return nil, err
	}
	s := &Service{engine: e, bus: b, adminToken: adminToken, streams: map[string]*stream{}, announced: map[string][]string{},
		base: streamBase()}
	cmds := map[string]bus.HandlerFunc{
		"setStatus":           s.setStatus,
		"getStatus":           s.getStatus,
		"listChats":           s.listChats,
		"acceptChat":          s.acceptChat,
		"sendMessage":         s.sendMessage,
		"sendTyping":          s.sendTyping,
		"endChat":             s.endChat,
		"getTranscript":       s.getTranscript,
		"getHistory":          s.getHistory,
		"resolveChat":         s.resolveChat,
		"transferChat":        s.transferChat,
		"joinChat":            s.joinChat,
		"lockChat":            s.lockChat,
		"unlockChat":          s.unlockChat,
		"listAgents":          s.listAgents,
		"listQueues":          s.listQueues,
		"sendFile":            s.sendFile,
		"downloadFile":        s.downloadFile,
		"requestFile":         s.requestFile,
		"listMessages":        s.listMessages,
		"answerMessage":       s.answerMessage,
		"listPastChats":       s.listPastChats,
		"listCannedResponses": s.listCannedResponses,
	}
	for name, h := range cmds {
		if err := p.RegisterCommand(name, s.agentsOnly(h)); err != nil {
			return nil, err
		}
	}
	p.RegisterEvents(EventChatAssigned, EventMessageReceived, EventVisitorTyping, EventContextUpdated, EventChatEnded,
		EventResync, EventThreadOpened, EventThreadClosed, EventChatResolved, EventChatTransferred,
		EventMessageLeft, EventMessageAnswered, EventChatQueued, EventChatDequeued, EventChatRated)
	if err := p.RegisterFeed(bus.KindAgent, s.feed); err != nil {
		return nil, err
	}
	if err := p.RegisterAuth(s.authenticate); err != nil {
		return nil, err
	}
	e.Observe(s.observe)
	e.ObserveMessages(s.observeMessages)
	return s, nil
}

func (s *Service) agentsOnly(h bus.HandlerFunc) bus.HandlerFunc {
	return func(ctx context.Context, call *bus.Call) (any, error) {
		if call.Caller.Kind != bus.KindAgent {
			return nil, ErrNotAgent
		}
		return h(ctx, call)
	}
}

func (s *Service) authenticate(ctx context.Context, token string) (bus.Caller, error) {
	if s.adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.adminToken)) == 1 {
		return bus.Caller{Kind: bus.KindAdmin}, nil
	}
	a, ok := s.engine.AgentByToken(token)
	if !ok {
		return bus.Caller{}, bus.ErrNoMatch
	}
	return bus.Caller{Kind: bus.KindAgent, ID: a.ID}, nil
}

func (s *Service) stream(agentID string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[agentID]
	if st == nil {
		st = newStream(bus.AgentTopic(agentID), s.base)
		s.streams[agentID] = st
	}
	return st
}

func (s *Service) feed(ctx context.Context, caller bus.Caller, after uint64, limit int) ([]bus.Event, error) {
	return s.stream(caller.ID).after(after, limit), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("agent: marshal: " + err.Error())
	}
	return b
}

func name(n string) string { return Name + "." + n }

// observe turns a chat's events into each participating agent's events. It
// runs on the store's writer goroutine for committed events, so positions are
// handed out in commit order.
func (s *Service) observe(c *model.Chat, evs []model.Event) {
	s.announceQueue(c)
	if len(evs) == 0 {
		return
	}
	rated := evs[0].Type == model.EventChatRated
	var told map[string]bool // a rating goes once to an agent who joined twice; only then allocated
	for _, p := range c.Participants {
		// Agents who left with these very events (an ending chat) still hear
		// of them; a rating, which comes after the end, goes to every agent
		// the visitor talked to.
		if !p.Connected() && p.LeftAt < evs[0].Time && (!rated || p.Silent) {
			continue
		}
		if rated {
			if told[p.ID] {
				continue
			}
			if told == nil {
				told = map[string]bool{}
			}
			told[p.ID] = true
		}
		for _, ev := range evs {
			s.deliver(c, p.ID, ev)
		}
	}
}

func (s *Service) deliver(c *model.Chat, agentID string, ev model.Event) {
	topic := bus.AgentTopic(agentID)
	if ev.Seq == 0 {
		if ev.From.Type == model.PartyClient {
			typing := ev.Type == model.EventTypingStarted
			s.bus.Publish(bus.Event{Name: name(EventVisitorTyping), Topic: topic,
				Data: mustJSON(map[string]any{"chatId": c.ID, "isTyping": typing})})
		}
		return
	}
	var unit []bus.Event
	add := func(n string, data []byte) { unit = append(unit, bus.Event{Name: name(n), Data: data}) }
	switch {
	case ev.Type == model.EventParticipantJoined && ev.From.ID == agentID:
		add(EventChatAssigned, mustJSON(assignment(c)))
		add(EventMessageReceived, mustJSON(map[string]any{"chatId": c.ID, "messages": []engine.Message{engine.ToMessage(ev)}}))
	case engine.Visible(ev):
		add(EventMessageReceived, mustJSON(map[string]any{"chatId": c.ID, "messages": []engine.Message{engine.ToMessage(ev)}}))
	case ev.Type == model.EventUserDataUpdated:
		add(EventContextUpdated, mustJSON(map[string]any{"chatId": c.ID, "userData": json.RawMessage(ev.Data)}))
	case ev.Type == model.EventContextUpdated:
		add(EventContextUpdated, mustJSON(map[string]any{"chatId": c.ID, "context": json.RawMessage(ev.Data)}))
	case ev.Type == model.EventIdentityUpdated:
		add(EventContextUpdated, mustJSON(map[string]any{"chatId": c.ID, "identity": json.RawMessage(ev.Data)}))
	case ev.Type == model.EventTransferred:
		add(EventChatTransferred, mustJSON(map[string]any{"chatId": c.ID, "transfer": json.RawMessage(ev.Data)}))
	case ev.Type == model.EventResolved:
		add(EventChatResolved, mustJSON(map[string]any{"chatId": c.ID, "resolution": json.RawMessage(ev.Data)}))
	case ev.Type == model.EventThreadOpened:
		add(EventThreadOpened, mustJSON(map[string]any{"chatId": c.ID, "thread": json.RawMessage(ev.Data)}))
	case ev.Type == model.EventThreadClosed:
		add(EventThreadClosed, mustJSON(map[string]any{"chatId": c.ID, "thread": json.RawMessage(ev.Data)}))
	case ev.Type == model.EventChatRated:
		r, ok := engine.RatingOf(ev)
		if !ok {
			return
		}
		add(EventChatRated, mustJSON(map[string]any{"chatId": c.ID, "rating": r.Rating, "comment": r.Comment, "timestamp": r.Time}))
	case ev.Type == model.EventChatEnded:
		var d struct {
			By          string `json:"by"`
			Disposition string `json:"disposition"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		data := map[string]any{"chatId": c.ID, "by": d.By}
		if d.Disposition != "" {
			data["disposition"] = d.Disposition // resolved with one
		}
		add(EventChatEnded, mustJSON(data))
	default:
		return
	}
	first := unit[0]
	first.With = unit[1:]
	s.stream(agentID).publish(s.bus, first)
}

// Assignment describes a chat to its agent.
type Assignment struct {
	ChatID     string          `json:"chatId"`
	Deployment string          `json:"deployment"`
	Mode       model.Mode      `json:"mode"`
	State      model.ChatState `json:"state"`
	Queue      string          `json:"queue"`
	Priority   int             `json:"priority"`
	Visitor    model.Profile   `json:"visitor"`
	Subject    string          `json:"subject,omitempty"`
	UserData   json.RawMessage `json:"userData,omitempty"`
	CreatedAt  int64           `json:"createdAt"`
	// Wire is the protocol the visitor started on (bus.Wire*), and
	// IdentityID who they are across chats: two visitors of one name differ
	// by it.
	Wire       model.Wire `json:"wire"`
	IdentityID string     `json:"identityId"`
	LastSeq    uint64     `json:"lastSeq"`
	Locked     bool       `json:"locked,omitempty"`
	// Rating is the visitor's rating of the ended chat, when it gave one.
	Rating *model.Rating `json:"rating,omitempty"`
}

func assignment(c *model.Chat) Assignment {
	return Assignment{ChatID: c.ID, Deployment: c.Deployment, Mode: c.Mode, State: c.State, Queue: c.Queue,
		Priority: c.Priority, Visitor: c.Visitor, Subject: c.Subject, UserData: c.UserData,
		CreatedAt: c.CreatedAt, LastSeq: c.LastSeq, Locked: c.Locked, Wire: wireOf(c), IdentityID: c.IdentityID,
		Rating: c.Rating}
}

// wireOf is c's wire; chats stored before the record kept it were native.
func wireOf(c *model.Chat) model.Wire {
	if c.Wire == "" {
		return bus.WireNative
	}
	return c.Wire
}

func decode(opts []byte, v any) error { return bus.DecodeOptions(opts, v) }

func (s *Service) setStatus(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		Status model.AgentStatus `json:"status"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	switch o.Status {
	case engine.StatusOnline, engine.StatusAway, engine.StatusOffline:
	default:
		return nil, ErrBadStatus
	}
	if err := s.engine.SetStatus(ctx, call.Caller.ID, o.Status); err != nil {
		return nil, err
	}
	return s.engine.Agent(call.Caller.ID)
}

func (s *Service) getStatus(ctx context.Context, call *bus.Call) (any, error) {
	return s.engine.Agent(call.Caller.ID)
}

func (s *Service) listChats(ctx context.Context, call *bus.Call) (any, error) {
	info, err := s.engine.Agent(call.Caller.ID)
	if err != nil {
		return nil, err
	}
	chats := make([]Assignment, 0, len(info.Chats))
	for _, id := range info.Chats {
		c, err := s.engine.Chat(ctx, id)
		if err != nil {
			continue // ended since
		}
		chats = append(chats, assignment(&c))
	}
	queued := []Assignment{}
	for _, c := range s.engine.Queued(call.Caller.ID) {
		queued = append(queued, assignment(&c))
	}
	pos := s.stream(call.Caller.ID)
	pos.mu.Lock()
	head := pos.head
	pos.mu.Unlock()
	out := map[string]any{"status": info.Status, "chats": chats, "queued": queued, "seq": head}
	if info.Note != "" {
		out["note"] = info.Note
	}
	return out, nil
}

// chatOptions are the options of the commands about one chat; each command
// reads the fields it takes.
type chatOptions struct {
	ChatID      string  `json:"chatId"`
	Message     *string `json:"message"`
	RequestID   string  `json:"requestId"`
	IsTyping    *bool   `json:"isTyping"`
	Type        string  `json:"type"`
	Disposition string  `json:"disposition"` // resolveChat
	AgentID     string  `json:"agentId"`     // transferChat
	Queue       string  `json:"queue"`       // transferChat
	Silent      bool    `json:"silent"`      // joinChat
	Internal    bool    `json:"internal"`    // sendMessage: an internal note (canned.go)
}

func (s *Service) chatOptions(call *bus.Call) (chatOptions, error) {
	var o chatOptions
	if err := decode(call.Options, &o); err != nil {
		return o, err
	}
	if o.ChatID == "" {
		return o, ErrNoChatID
	}
	return o, nil
}

// participant returns the chat and the caller's participant record.
func (s *Service) participant(ctx context.Context, call *bus.Call, chatID string) (model.Chat, model.Participant, error) {
	c, err := s.engine.Chat(ctx, chatID)
	if err != nil {
		return c, model.Participant{}, rejectionFor(err)
	}
	for _, p := range c.Participants {
		if p.ID == call.Caller.ID && p.Connected() {
			if c.State == model.StateEnded {
				return c, p, ErrChatEnded
			}
			return c, p, nil
		}
	}
	if c.State == model.StateEnded {
		return c, model.Participant{}, ErrChatEnded
	}
	return c, model.Participant{}, ErrNotParticipant
}

// acceptChat takes a waiting chat. A chat the caller already holds resolves
// as accepted: routing gives chats to online agents at any moment after the
// start, so an agent who accepts what she was just offered (or retries her
// accept) may find routing already gave it to her. Her seat for it counts in
// her load, hence the capacity refusal is checked the same way.
func (s *Service) acceptChat(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	err = s.engine.Assign(ctx, o.ChatID, call.Caller.ID)
	if err != nil && !errors.Is(err, engine.ErrAssigned) && !errors.Is(err, engine.ErrAtCapacity) {
		return nil, rejectionFor(err)
	}
	c, cerr := s.engine.Chat(ctx, o.ChatID)
	if cerr != nil {
		return nil, rejectionFor(cerr)
	}
	if err != nil && (c.State != model.StateActive || !holds(&c, call.Caller.ID)) {
		return nil, rejectionFor(err)
	}
	return assignment(&c), nil
}

// holds reports whether agentID is in the chat as one of its agents (a
// silent supervisor is not).
func holds(c *model.Chat, agentID string) bool {
	for _, p := range c.Participants {
		if p.ID == agentID && p.Connected() && !p.Silent {
			return true
		}
	}
	return false
}

func (s *Service) sendMessage(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	text := ""
	if o.Message != nil {
		text = *o.Message
	}
	if strings.TrimSpace(text) == "" {
		return nil, ErrNoMessage
	}
	if max := s.engine.Config().Limits.MessageChars; utf8.RuneCountInString(text) > max {
		return nil, ErrMessageTooLong
	}
	if len(o.RequestID) > 128 {
		return nil, ErrRequestIDTooLong
	}
	_, p, err := s.participant(ctx, call, o.ChatID)
	if err != nil {
		return nil, err
	}
	typ := model.EventMessage
	if o.Type == "notice" {
		typ = model.EventNotice
	}
	// A silent supervisor's messages are whispers and an internal note is
	// for agents by request: agents and supervisors see them, the visitor does not.
	ev, err := s.engine.Append(ctx, o.ChatID, o.RequestID, model.Event{Type: typ, From: engine.PartyOf(p), Text: text,
		Time: s.engine.Now().UnixMilli(), Internal: p.Silent || o.Internal})
	if err != nil {
		return nil, rejectionFor(err)
	}
	return map[string]any{"seq": ev.Seq, "index": ev.Seq, "timestamp": ev.Time}, nil
}

func (s *Service) sendTyping(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	_, p, err := s.participant(ctx, call, o.ChatID)
	if err != nil {
		return nil, err
	}
	typing := o.IsTyping == nil || *o.IsTyping
	if err := s.engine.Typing(ctx, o.ChatID, engine.PartyOf(p), typing); err != nil {
		return nil, ErrChatEnded
	}
	return struct{}{}, nil
}

func (s *Service) endChat(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	_, p, err := s.participant(ctx, call, o.ChatID)
	if err != nil {
		return nil, err
	}
	if _, err := s.engine.End(ctx, o.ChatID, engine.PartyOf(p), model.EndedByAgent); err != nil {
		return nil, rejectionFor(err)
	}
	return map[string]bool{"ended": true}, nil
}

func (s *Service) getTranscript(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	c, err := s.engine.Chat(ctx, o.ChatID)
	if err != nil {
		return nil, rejectionFor(err)
	}
	if !s.mayRead(&c, call.Caller.ID) {
		return nil, ErrNotParticipant
	}
	msgs := []engine.Message{}
	var visit json.RawMessage
	var after uint64
	for {
		evs, err := s.engine.EventsAfter(ctx, c.ID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if engine.Visible(ev) {
				msgs = append(msgs, engine.ToMessage(ev))
			}
			if ev.Type == model.EventContextUpdated {
				visit = ev.Data
			}
			after = ev.Seq
		}
		if len(evs) < 1000 {
			break
		}
	}
	out := map[string]any{"chat": assignment(&c), "messages": msgs}
	if c.Rating != nil {
		out["rating"] = c.Rating // the visitor's rating, after the chat ended
	}
	if visit != nil {
		out["context"] = visit // the visitor's latest session data
	}
	return out, nil
}

// resolveChat closes the caller's intervention with a disposition. In a live
// chat that ends it; an asynchronous conversation stays open.
func (s *Service) resolveChat(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	if len(o.Disposition) > 128 {
		return nil, ErrDispositionTooLong
	}
	_, p, err := s.participant(ctx, call, o.ChatID)
	if err != nil {
		return nil, err
	}
	c, err := s.engine.Resolve(ctx, o.ChatID, p, o.Disposition)
	if err != nil {
		return nil, rejectionFor(err)
	}
	return map[string]any{"chatId": c.ID, "state": c.State, "disposition": o.Disposition}, nil
}

func (s *Service) lockChat(ctx context.Context, call *bus.Call) (any, error) {
	return s.setLocked(ctx, call, true)
}
func (s *Service) unlockChat(ctx context.Context, call *bus.Call) (any, error) {
	return s.setLocked(ctx, call, false)
}

func (s *Service) setLocked(ctx context.Context, call *bus.Call, locked bool) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	c, p, err := s.participant(ctx, call, o.ChatID)
	if errors.Is(err, ErrNotParticipant) && c.State == model.StateIdle {
		// An idle conversation has nobody in it; the last agent may still lock it.
		err = nil
		p = model.Participant{ID: call.Caller.ID, Name: call.Caller.ID}
		for _, q := range c.Participants {
			if q.ID == call.Caller.ID {
				p = q
			}
		}
		if p.JoinedAt == 0 {
			return nil, ErrNotParticipant
		}
	}
	if err != nil {
		return nil, err
	}
	if c.Mode != model.ModeAsync {
		return nil, ErrNotAsync
	}
	c, err = s.engine.SetLocked(ctx, o.ChatID, engine.PartyOf(p), locked)
	if err != nil {
		return nil, err
	}
	return map[string]any{"chatId": c.ID, "locked": c.Locked}, nil
}

// transferChat hands the caller's chat to another agent or to a queue.
func (s *Service) transferChat(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	if (o.AgentID == "") == (o.Queue == "") {
		return nil, ErrTransferTarget
	}
	_, p, err := s.participant(ctx, call, o.ChatID)
	if err != nil {
		return nil, err
	}
	c, err := s.engine.Transfer(ctx, o.ChatID, p, o.AgentID, o.Queue)
	if err != nil {
		return nil, rejectionFor(err)
	}
	return map[string]any{"chatId": c.ID, "state": c.State, "queue": c.Queue}, nil
}

// joinChat lets a supervisor into any open chat, silently (seen by agents
// only; messages become whispers) or openly (the visitor sees it join).
func (s *Service) joinChat(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	var me *config.Agent
	for _, a := range s.engine.Config().Agents {
		if a.ID == call.Caller.ID {
			me = &a
		}
	}
	if me == nil || !me.Supervisor {
		return nil, ErrNotSupervisor
	}
	c, err := s.engine.JoinAsSupervisor(ctx, o.ChatID, *me, o.Silent)
	if err != nil {
		return nil, rejectionFor(err)
	}
	return assignment(&c), nil
}

// AgentEntry is a configured agent as a transfer target.
type AgentEntry struct {
	ID     string                `json:"id"`
	Name   string                `json:"name"`
	Kind   model.ParticipantKind `json:"kind"`
	Status model.AgentStatus     `json:"status"`
	Free   int                   `json:"free"` // chats it can still take
	Self   bool                  `json:"self,omitempty"`
}

// listAgents lists every configured agent with its presence and free
// capacity, in configuration order: the targets of transferChat.
func (s *Service) listAgents(ctx context.Context, call *bus.Call) (any, error) {
	cfg := s.engine.Config()
	out := make([]AgentEntry, 0, len(cfg.Agents))
	for _, a := range cfg.Agents {
		info, err := s.engine.Agent(a.ID)
		if err != nil {
			continue // removed since the snapshot
		}
		out = append(out, AgentEntry{ID: info.ID, Name: info.Name, Kind: info.Kind, Status: info.Status,
			Free: max(0, info.MaxChats-len(info.Chats)), Self: info.ID == call.Caller.ID})
	}
	return map[string]any{"agents": out}, nil
}

// QueueEntry is a configured queue as a transfer target.
type QueueEntry struct {
	Name     string   `json:"name"`
	Skills   []string `json:"skills"`
	Language string   `json:"language,omitempty"`
	Queued   int      `json:"queued"` // chats waiting that some configured agent could take
}

// listQueues lists every configured queue with the number of chats waiting
// in it.
func (s *Service) listQueues(ctx context.Context, call *bus.Call) (any, error) {
	cfg := s.engine.Config()
	waiting := map[string]string{} // chatId → queue
	for _, a := range cfg.Agents {
		for _, c := range s.engine.Queued(a.ID) {
			waiting[c.ID] = c.Queue
		}
	}
	counts := map[string]int{}
	for _, q := range waiting {
		counts[q]++
	}
	out := make([]QueueEntry, 0, len(cfg.Queues))
	for _, q := range cfg.Queues {
		skills := q.Skills
		if skills == nil {
			skills = []string{}
		}
		out = append(out, QueueEntry{Name: q.Name, Skills: skills, Language: q.Language, Queued: counts[q.Name]})
	}
	return map[string]any{"queues": out}, nil
}

// rejectionFor turns the engine's errors into AgentService's rejections, the
// same for every command; anything else passes through (and reaches the
// client as "internal").
func rejectionFor(err error) error {
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return ErrChatNotFound
	case errors.Is(err, engine.ErrEnded):
		return ErrChatEnded
	case errors.Is(err, engine.ErrAssigned):
		return ErrAlreadyTaken
	case errors.Is(err, engine.ErrAtCapacity):
		return ErrAtCapacity
	case errors.Is(err, engine.ErrNotEligible):
		return ErrNotEligible
	case errors.Is(err, engine.ErrAgentOffline):
		return ErrAgentOffline
	case errors.Is(err, engine.ErrNotParticipant):
		return ErrNotParticipant
	case errors.Is(err, engine.ErrUnknownAgent), errors.Is(err, engine.ErrUnknownQueue):
		return ErrTransferTarget
	}
	return err
}
