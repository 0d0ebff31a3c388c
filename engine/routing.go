package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/model"
)

// Run starts the router and the sweeper and blocks until ctx ends and both
// have returned.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.route(ctx) }()
	go func() { defer wg.Done(); e.sweep(ctx) }()
	e.wake()
	wg.Wait()
}

func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// route assigns queued chats whenever something changed, then tells waiting
// visitors their place in the queue.
func (e *Engine) route(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		// Agents the store found full this round (SeatedLog): the view
		// lacks chats they took on other nodes, and would pick them again
		// at once. They are left out until the round after seatRecheck.
		refused := map[string]bool{}
		for ctx.Err() == nil && e.leading() {
			chatID, agentID := e.nextAssignment(refused)
			if chatID == "" {
				break
			}
			err := e.assign(ctx, chatID, agentID, true)
			if errors.Is(err, model.ErrNoSeat) {
				refused[agentID] = true
			}
			// A chat taken or ended meanwhile, a seat taken meanwhile by a
			// manual accept, or an agent gone offline: pick again.
			if err != nil && !errors.Is(err, ErrAssigned) && !errors.Is(err, ErrEnded) && !errors.Is(err, ErrAtCapacity) &&
				!errors.Is(err, ErrAgentOffline) && ctx.Err() == nil {
				e.logger.Error("routing: assign", "chat", chatID, "agent", agentID, "err", err)
				break // retried on the next wake
			}
		}
		if len(refused) > 0 {
			time.AfterFunc(seatRecheck, e.wake)
		}
		e.announcePositions()
	}
}

// seatRecheck is how long routing leaves out an agent the store found full
// while the view gave it a free seat: by then the view holds the chats that
// filled it, or the seat is free again.
const seatRecheck = time.Second

// byUrgency orders queued chats: higher priority first, then the oldest.
func byUrgency(a, b *model.Chat) int {
	if a.Priority != b.Priority {
		return b.Priority - a.Priority
	}
	if a.CreatedAt != b.CreatedAt {
		return int(a.CreatedAt - b.CreatedAt)
	}
	return strings.Compare(a.ID, b.ID)
}

// queuedLocked lists queued chats by urgency; e.mu must be held.
func (e *Engine) queuedLocked() []*model.Chat {
	queued := make([]*model.Chat, 0, 8)
	for _, c := range e.chats {
		if c.State == model.StateQueued {
			queued = append(queued, c)
		}
	}
	slices.SortFunc(queued, byUrgency)
	return queued
}

// canServe reports whether agent a may take chat c of queue q, capacity aside.
func canServe(a config.Agent, q config.Queue, c *model.Chat) bool {
	if !hasSkills(a.Skills, q.Skills) || !hasSkills(a.Skills, c.Skills) {
		return false
	}
	for _, lang := range []string{q.Language, c.Language} {
		if lang != "" && !slices.ContainsFunc(a.Languages, func(l string) bool { return strings.EqualFold(l, lang) }) {
			return false
		}
	}
	return true
}

// nextAssignment picks the most urgent queued chat that an online agent can
// take: priority first, then the oldest; the agent with the needed skills and
// languages and the most free capacity, ties to the one free the longest.
// Agents in skip are left out.
func (e *Engine) nextAssignment(skip map[string]bool) (chatID, agentID string) {
	cfg := e.Config()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.queuedLocked() {
		q, ok := cfg.Queue(c.Queue)
		if !ok || q.ManualAccept || e.heldLocked(c.ID) {
			continue
		}
		var best *agentState
		for _, a := range e.agents {
			if a.status != StatusOnline || a.load() >= a.cfg.MaxChats || skip[a.cfg.ID] || !canServe(a.cfg, q, c) {
				continue
			}
			if best == nil || better(a, best) {
				best = a
			}
		}
		if best != nil {
			return c.ID, best.cfg.ID
		}
	}
	return "", ""
}

// CanServeNow reports whether some online agent with free capacity could
// take a chat of the deployment's queue with these needs: the proactive
// availability question, and the no-agents policy at startChat.
func (e *Engine) CanServeNow(queue string, skills []string, language string) bool {
	cfg := e.Config()
	q, ok := cfg.Queue(queue)
	if !ok {
		return false
	}
	probe := &model.Chat{Skills: skills, Language: language}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.agents {
		if a.status == StatusOnline && a.load() < a.cfg.MaxChats && canServe(a.cfg, q, probe) {
			return true
		}
	}
	return false
}

// announcePositions tells each waiting visitor its place in its queue when it
// changed, as an ephemeral QueuePosition event.
func (e *Engine) announcePositions() {
	type update struct {
		chat     model.Chat
		position int
		wait     int64 // recent median wait of its queue, s; -1 when unknown
	}
	var updates []update
	e.mu.Lock()
	perQueue := map[string]int{}
	waiting := map[string]bool{}
	for _, c := range e.queuedLocked() {
		perQueue[c.Queue]++
		pos := perQueue[c.Queue]
		waiting[c.ID] = true
		if e.positions[c.ID] != pos {
			e.positions[c.ID] = pos
			w, ok := e.recentWaitLocked(c.Queue)
			if !ok {
				w = -1
			}
			updates = append(updates, update{chat: *c, position: pos, wait: w})
		}
	}
	for id := range e.positions {
		if !waiting[id] {
			delete(e.positions, id)
		}
	}
	e.mu.Unlock()
	now := e.now().UnixMilli()
	for _, u := range updates {
		d := map[string]any{"position": u.position, "queue": u.chat.Queue}
		if u.wait >= 0 {
			d["recentWait"] = u.wait
		}
		data, _ := json.Marshal(d)
		ev := []model.Event{{Type: EventQueuePosition, Time: now, From: model.System, Data: data}}
		for _, o := range e.observers {
			o(&u.chat, ev)
		}
	}
}

// QueuePosition returns a waiting chat's place in its queue, from 1, and the
// queue; 0 when the chat is not waiting.
func (e *Engine) QueuePosition(chatID string) (int, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.chats[chatID]
	if !ok || c.State != model.StateQueued {
		return 0, ""
	}
	pos := 0
	for _, q := range e.queuedLocked() {
		if q.Queue == c.Queue {
			pos++
		}
		if q.ID == chatID {
			return pos, c.Queue
		}
	}
	return 0, ""
}

// EventQueuePosition is the ephemeral event telling a waiting visitor its
// place in the queue.
const EventQueuePosition = "QueuePosition"

func better(a, b *agentState) bool {
	fa, fb := a.cfg.MaxChats-a.load(), b.cfg.MaxChats-b.load()
	if fa != fb {
		return fa > fb
	}
	if !a.lastFree.Equal(b.lastFree) {
		return a.lastFree.Before(b.lastFree)
	}
	return a.cfg.ID < b.cfg.ID
}

func hasSkills(have, need []string) bool {
	for _, s := range need {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

// Assign gives a queued chat to an agent: the agent joins, the chat becomes
// active. It is an agent's manual accept, allowed whatever its presence (a bot
// accepts the chats it is told of by webhook without going online).
func (e *Engine) Assign(ctx context.Context, chatID, agentID string) error {
	return e.assign(ctx, chatID, agentID, false)
}

// assign is Assign; routed assignments also require the agent not to have
// gone offline since routing picked it.
func (e *Engine) assign(ctx context.Context, chatID, agentID string, routed bool) error {
	cfg := e.Config()
	e.mu.Lock()
	a := e.agents[agentID]
	var full bool
	var agentCfg config.Agent
	if a != nil {
		full = !a.reserve(chatID)
		agentCfg = a.cfg
	}
	e.mu.Unlock()
	if a == nil {
		return ErrUnknownAgent
	}
	if full {
		return ErrAtCapacity
	}
	now := e.now()
	p := model.Participant{ID: agentCfg.ID, Name: agentCfg.Name, Kind: agentCfg.Kind, JoinedAt: now.UnixMilli()}
	_, _, err := e.mutateSeated(ctx, chatID, agentCfg, func(c *model.Chat) ([]model.Event, error) {
		switch c.State {
		case model.StateEnded:
			return nil, ErrEnded
		case model.StateActive:
			return nil, ErrAssigned
		}
		if q, ok := cfg.Queue(c.Queue); ok && !canServe(agentCfg, q, c) {
			return nil, ErrNotEligible
		}
		if routed && a.offline.Load() {
			// It went offline after it was picked: its requeue has run, or
			// runs after this write and takes the chat back.
			return nil, ErrAgentOffline
		}
		c.State = model.StateActive
		c.Participants = append(c.Participants, p)
		return []model.Event{{Type: model.EventParticipantJoined, Time: p.JoinedAt, From: PartyOf(p)}}, nil
	})
	e.mu.Lock()
	delete(a.accepting, chatID)
	if err == nil {
		a.lastFree = now
	}
	e.mu.Unlock()
	return err
}

// SetStatus changes an agent's presence and wakes routing. An agent going
// offline leaves its chats, which are queued again for someone else; an away
// agent keeps its chats but gets no new ones.
func (e *Engine) SetStatus(ctx context.Context, agentID string, status model.AgentStatus) error {
	e.mu.Lock()
	a := e.agents[agentID]
	if a != nil {
		if a.status != StatusOnline && status == StatusOnline && a.lastFree.IsZero() {
			a.lastFree = e.now()
		}
		a.setStatus(status)
		a.absentSince, a.note = time.Time{}, ""
	}
	e.mu.Unlock()
	if a == nil {
		return ErrUnknownAgent
	}
	e.saveStatus(ctx, agentID, status)
	if status == StatusOffline {
		e.requeueAgentChats(ctx, agentID, "offline")
	}
	e.wake()
	return nil
}

// requeueAgentChats takes an agent out of every open chat; a chat left with
// nobody is queued again, and the visitor is told.
func (e *Engine) requeueAgentChats(ctx context.Context, agentID, reason string) {
	e.mu.Lock()
	var ids []string
	for id, c := range e.chats {
		for _, p := range c.Participants {
			if p.ID == agentID && p.Connected() {
				ids = append(ids, id)
			}
		}
	}
	// A chat being given to the agent is not in the view until its write
	// commits; its requeue is queued behind that write and sees it.
	if a := e.agents[agentID]; a != nil {
		for id := range a.accepting {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	e.mu.Unlock()
	now := e.now().UnixMilli()
	for _, id := range ids {
		_, _, err := e.Mutate(ctx, id, "", func(c *model.Chat) ([]model.Event, error) {
			if c.State == model.StateEnded {
				return nil, nil
			}
			var evs []model.Event
			connected := 0
			for i := range c.Participants {
				p := &c.Participants[i]
				switch {
				case !p.Connected():
				case p.ID == agentID:
					p.LeftAt = now
					evs = append(evs, model.Event{Type: model.EventParticipantLeft, Time: now, From: PartyOf(*p), Internal: p.Silent})
				case !p.Silent:
					connected++
				}
			}
			if len(evs) == 0 {
				return nil, nil
			}
			if connected == 0 && c.State == model.StateActive {
				c.State = model.StateQueued
				evs = append(evs, model.Event{Type: model.EventNotice, Time: now, From: model.System,
					Text: "Your agent is no longer available; the next available agent will continue the conversation."})
			}
			return evs, nil
		})
		if err != nil && !errors.Is(err, ErrEnded) {
			e.logger.Error("requeue chat", "chat", id, "agent", agentID, "reason", reason, "err", err)
		}
	}
}

// Transfer moves a chat from one agent to another agent or to a queue. The
// first agent leaves; the visitor is told; nothing of the chat is lost.
func (e *Engine) Transfer(ctx context.Context, chatID string, from model.Participant, toAgent, toQueue string) (model.Chat, error) {
	cfg := e.Config()
	var target *config.Agent
	var targetState *agentState
	if toAgent != "" {
		for _, a := range cfg.Agents {
			if a.ID == toAgent {
				target = &a
			}
		}
		if target == nil || toAgent == from.ID {
			return model.Chat{}, ErrUnknownAgent
		}
		e.mu.Lock()
		st := e.agents[toAgent]
		targetState = st
		offline := st != nil && st.status == StatusOffline
		full := st == nil || offline || !st.reserve(chatID)
		e.mu.Unlock()
		if offline {
			// Nobody would answer the visitor, and no routing would notice.
			return model.Chat{}, ErrAgentOffline
		}
		if full {
			return model.Chat{}, ErrAtCapacity
		}
		defer func() {
			e.mu.Lock()
			delete(st.accepting, chatID)
			e.mu.Unlock()
		}()
	} else if _, ok := cfg.Queue(toQueue); !ok {
		return model.Chat{}, ErrUnknownQueue
	}
	now := e.now().UnixMilli()
	mutate := e.Mutate
	if target != nil {
		mutate = func(ctx context.Context, chatID, _ string, fn model.MutateFunc) (model.Chat, []model.Event, error) {
			return e.mutateSeated(ctx, chatID, *target, fn)
		}
	}
	c, _, err := mutate(ctx, chatID, "", func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, ErrEnded
		}
		var evs []model.Event
		for i := range c.Participants {
			p := &c.Participants[i]
			if p.ID == from.ID && p.Connected() {
				p.LeftAt = now
				evs = append(evs, model.Event{Type: model.EventParticipantLeft, Time: now, From: PartyOf(*p)})
			}
		}
		if len(evs) == 0 {
			return nil, ErrNotParticipant
		}
		if targetState != nil && targetState.offline.Load() {
			return nil, ErrAgentOffline // since it was checked; as in Assign
		}
		to := map[string]string{"from": from.ID, "agent": toAgent, "queue": toQueue}
		data, _ := json.Marshal(to)
		evs = append(evs, model.Event{Type: model.EventTransferred, Time: now, From: PartyOf(from), Data: data})
		if target != nil {
			p := model.Participant{ID: target.ID, Name: target.Name, Kind: target.Kind, JoinedAt: now}
			c.Participants = append(c.Participants, p)
			c.State = model.StateActive
			evs = append(evs, model.Event{Type: model.EventNotice, Time: now, From: model.System,
				Text: "You are now chatting with " + target.Name + "."},
				model.Event{Type: model.EventParticipantJoined, Time: now, From: PartyOf(p)})
			return evs, nil
		}
		c.Queue = toQueue
		still := 0
		for _, p := range c.Participants {
			if p.Connected() && !p.Silent {
				still++
			}
		}
		if still == 0 {
			c.State = model.StateQueued
			evs = append(evs, model.Event{Type: model.EventNotice, Time: now, From: model.System,
				Text: "You are being transferred; the next available agent will continue the conversation."})
		}
		return evs, nil
	})
	if err == nil && target != nil {
		// A chat transferred to an agent is given to it, as one routed or
		// accepted: the tie-break counts from now.
		e.mu.Lock()
		if st := e.agents[target.ID]; st != nil {
			st.lastFree = e.now()
		}
		e.mu.Unlock()
	}
	if err == nil {
		e.wake()
	}
	return c, err
}

// JoinAsSupervisor adds a supervisor to an open chat. A silent one sees
// everything and is seen by nobody but agents; an open one joins visibly.
func (e *Engine) JoinAsSupervisor(ctx context.Context, chatID string, a config.Agent, silent bool) (model.Chat, error) {
	now := e.now().UnixMilli()
	p := model.Participant{ID: a.ID, Name: a.Name, Kind: a.Kind, Supervisor: true, Silent: silent, JoinedAt: now}
	c, _, err := e.Mutate(ctx, chatID, "", func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, ErrEnded
		}
		for _, q := range c.Participants {
			if q.ID == a.ID && q.Connected() {
				return nil, ErrAssigned
			}
		}
		c.Participants = append(c.Participants, p)
		return []model.Event{{Type: model.EventParticipantJoined, Time: now, From: PartyOf(p), Internal: silent}}, nil
	})
	return c, err
}

// AgentInfo is an agent's presence and load.
type AgentInfo struct {
	ID       string                `json:"id"`
	Name     string                `json:"name"`
	Kind     model.ParticipantKind `json:"kind"`
	Status   model.AgentStatus     `json:"status"`
	MaxChats int                   `json:"maxChats"`
	Chats    []string              `json:"chats"`
	// Note says why the gateway last changed the agent's status (it was
	// away too long without a connection); empty once the agent sets one.
	Note string `json:"note,omitempty"`
}

// Agent returns an agent's presence and the open chats it is in.
func (e *Engine) Agent(agentID string) (AgentInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.agents[agentID]
	if a == nil {
		return AgentInfo{}, ErrUnknownAgent
	}
	info := AgentInfo{ID: a.cfg.ID, Name: a.cfg.Name, Kind: a.cfg.Kind, Status: a.status, MaxChats: a.cfg.MaxChats,
		Chats: make([]string, 0, len(a.chats)), Note: a.note}
	for id := range a.chats {
		info.Chats = append(info.Chats, id)
	}
	sort.Strings(info.Chats)
	return info, nil
}

// Queued lists queued chats an agent could take, most urgent first.
func (e *Engine) Queued(agentID string) []model.Chat {
	cfg := e.Config()
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.agents[agentID]
	var out []model.Chat
	for _, c := range e.chats {
		if c.State != model.StateQueued || a == nil || !mayTake(cfg, a.cfg, c) {
			continue
		}
		out = append(out, *c)
	}
	// Routing's order, ties included: an agent sees the chats in the order
	// they will be given out.
	slices.SortFunc(out, func(a, b model.Chat) int { return byUrgency(&a, &b) })
	return out
}

// MayTake reports whether the agent could take chat c were it waiting: the
// chat's queue exists and the agent has its skills and language. It is the
// rule of Queued (listChats), and AgentService reads a waiting chat by it.
func (e *Engine) MayTake(agentID string, c *model.Chat) bool {
	cfg := e.Config()
	e.mu.Lock()
	a := e.agents[agentID]
	var agentCfg config.Agent
	if a != nil {
		agentCfg = a.cfg
	}
	e.mu.Unlock()
	return a != nil && mayTake(cfg, agentCfg, c)
}

func mayTake(cfg *config.Config, a config.Agent, c *model.Chat) bool {
	q, ok := cfg.Queue(c.Queue)
	return ok && canServe(a, q, c)
}

// IsParticipant reports whether the agent is connected to the open chat.
func (e *Engine) IsParticipant(chatID, agentID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.agents[agentID]
	return a != nil && a.chats[chatID]
}

// sweep ends live chats idle for longer than their deployment's idleTimeout.
func (e *Engine) sweep(ctx context.Context) {
	idle := time.NewTicker(time.Minute)
	defer idle.Stop()
	presence := time.NewTicker(5 * time.Second)
	defer presence.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
			if e.leading() {
				e.SweepIdle(ctx)
			}
		case <-presence.C:
			if e.leading() {
				e.sweepPresence(ctx)
			}
		}
	}
}

// SweepPresence turns away every online agent that has had no connection for
// the presence grace period (counted from the start for an agent that was
// online before a restart): new chats go elsewhere, and its chats are queued
// again, each visitor told. The sweeper calls it every five seconds; tests
// call it with an injected clock.
func (e *Engine) SweepPresence() { e.sweepPresence(context.Background()) }

func (e *Engine) sweepPresence(ctx context.Context) {
	if e.presence == nil {
		return
	}
	now := e.now()
	var gone []string
	e.mu.Lock()
	for id, a := range e.agents {
		if a.status != StatusOnline {
			continue
		}
		switch {
		case e.presence(id):
			a.absentSince = time.Time{}
		case a.absentSince.IsZero():
			a.absentSince = now
		case now.Sub(a.absentSince) >= e.presenceGrace:
			a.setStatus(StatusAway)
			a.absentSince = time.Time{}
			a.note = fmt.Sprintf("You had no connection for %s: your status was set to away", e.presenceGrace)
			if n := len(a.chats); n > 0 {
				a.note += fmt.Sprintf(" and your %d open chats went back to the queue", n)
			}
			a.note += "."
			gone = append(gone, id)
			e.logger.Info("agent away: no connection within the grace period; its chats are queued again",
				"agent", id, "grace", e.presenceGrace, "chats", len(a.chats))
		}
	}
	e.mu.Unlock()
	for _, id := range gone {
		e.saveStatus(ctx, id, StatusAway)
		e.requeueAgentChats(ctx, id, "away")
	}
	if len(gone) > 0 {
		e.wake()
	}
}

// SweepIdle ends every live chat whose last activity is older than its
// deployment's idle timeout, and closes the thread of every asynchronous
// conversation inactive for longer than threadInactivity. The sweeper calls
// it every minute; tests call it with an injected clock.
func (e *Engine) SweepIdle(ctx context.Context) {
	cfg := e.Config()
	now := e.now()
	var idle, threads []string
	e.mu.Lock()
	for _, c := range e.chats {
		d := cfg.DeploymentOrDefaults(c.Deployment)
		quiet := now.Sub(time.UnixMilli(c.LastActivity))
		switch {
		case c.Mode == config.ModeLive && quiet > d.IdleTimeout:
			idle = append(idle, c.ID)
		case c.Mode == config.ModeAsync && c.ThreadOpen && quiet > d.ThreadInactivity:
			threads = append(threads, c.ID)
		}
	}
	e.mu.Unlock()
	at := now.UnixMilli()
	ended := false
	for _, id := range idle {
		// Idle as the view saw it; the write checks again, since the
		// visitor or the agent may have written since.
		_, evs, err := e.Mutate(ctx, id, "", func(c *model.Chat) ([]model.Event, error) {
			d := cfg.DeploymentOrDefaults(c.Deployment)
			if c.State == model.StateEnded || now.Sub(time.UnixMilli(c.LastActivity)) <= d.IdleTimeout {
				return nil, nil
			}
			return e.endEvents(c, model.System, model.EndedByIdle, nil, at), nil
		})
		if err != nil {
			e.logger.Error("idle sweep: end chat", "chat", id, "err", err)
		}
		ended = ended || len(evs) > 0
	}
	if ended {
		e.wake()
	}
	for _, id := range threads {
		_, _, err := e.Mutate(ctx, id, "", func(c *model.Chat) ([]model.Event, error) {
			if c.State == model.StateEnded || !c.ThreadOpen || !e.threadExpired(c, at) {
				return nil, nil
			}
			return []model.Event{e.closeThread(c, at, "inactivity")}, nil
		})
		if err != nil {
			e.logger.Error("idle sweep: close thread", "chat", id, "err", err)
		}
	}
}
