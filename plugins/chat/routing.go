package chat

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/store"
)

// Run starts the router and the idle sweeper and blocks until ctx ends and
// both have returned.
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

// route assigns queued chats whenever something changed.
func (e *Engine) route(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		for ctx.Err() == nil {
			chatID, agentID := e.nextAssignment()
			if chatID == "" {
				break
			}
			err := e.Assign(ctx, chatID, agentID)
			if err != nil && !errors.Is(err, ErrAssigned) && !errors.Is(err, ErrEnded) && ctx.Err() == nil {
				e.logger.Error("routing: assign", "chat", chatID, "agent", agentID, "err", err)
				break // retried on the next wake
			}
		}
	}
}

// nextAssignment picks the most urgent queued chat that an online agent can
// take: priority first, then the oldest; the agent with the needed skills and
// the most free capacity, ties to the one free the longest.
func (e *Engine) nextAssignment() (chatID, agentID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	queued := make([]*store.Chat, 0, 8)
	for _, c := range e.chats {
		if c.State == store.StateQueued {
			queued = append(queued, c)
		}
	}
	sort.Slice(queued, func(i, j int) bool {
		if queued[i].Priority != queued[j].Priority {
			return queued[i].Priority > queued[j].Priority
		}
		if queued[i].CreatedAt != queued[j].CreatedAt {
			return queued[i].CreatedAt < queued[j].CreatedAt
		}
		return queued[i].ID < queued[j].ID
	})
	for _, c := range queued {
		q, ok := e.cfg.Queue(c.Queue)
		if !ok || q.ManualAccept {
			continue
		}
		var best *agentState
		for _, a := range e.agents {
			if a.status != StatusOnline || len(a.chats) >= a.cfg.MaxChats || !hasSkills(a.cfg.Skills, q.Skills) {
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

func better(a, b *agentState) bool {
	fa, fb := a.cfg.MaxChats-len(a.chats), b.cfg.MaxChats-len(b.chats)
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
// active. It is used by routing and by an agent's manual accept.
func (e *Engine) Assign(ctx context.Context, chatID, agentID string) error {
	e.mu.Lock()
	a := e.agents[agentID]
	var full bool
	if a != nil {
		full = len(a.chats) >= a.cfg.MaxChats
	}
	e.mu.Unlock()
	if a == nil {
		return ErrUnknownAgent
	}
	if full {
		return ErrAtCapacity
	}
	now := e.now()
	p := store.Participant{ID: a.cfg.ID, Name: a.cfg.Name, Kind: a.cfg.Kind, JoinedAt: now.UnixMilli()}
	_, _, err := e.Mutate(ctx, chatID, "", func(c *store.Chat) ([]store.Event, error) {
		switch c.State {
		case store.StateEnded:
			return nil, ErrEnded
		case store.StateActive:
			return nil, ErrAssigned
		}
		c.State = store.StateActive
		c.Participants = append(c.Participants, p)
		return []store.Event{{Type: store.EventParticipantJoined, Time: p.JoinedAt, From: PartyOf(p)}}, nil
	})
	if err == nil {
		e.mu.Lock()
		a.lastFree = now
		e.mu.Unlock()
	}
	return err
}

// SetStatus changes an agent's presence and wakes routing.
func (e *Engine) SetStatus(agentID, status string) error {
	e.mu.Lock()
	a := e.agents[agentID]
	if a != nil {
		if a.status != StatusOnline && status == StatusOnline && a.lastFree.IsZero() {
			a.lastFree = e.now()
		}
		a.status = status
	}
	e.mu.Unlock()
	if a == nil {
		return ErrUnknownAgent
	}
	e.wake()
	return nil
}

// AgentInfo is an agent's presence and load.
type AgentInfo struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Status   string   `json:"status"`
	MaxChats int      `json:"maxChats"`
	Chats    []string `json:"chats"`
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
		Chats: make([]string, 0, len(a.chats))}
	for id := range a.chats {
		info.Chats = append(info.Chats, id)
	}
	sort.Strings(info.Chats)
	return info, nil
}

// Queued lists queued chats an agent could take, most urgent first.
func (e *Engine) Queued(agentID string) []store.Chat {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.agents[agentID]
	var out []store.Chat
	for _, c := range e.chats {
		if c.State != store.StateQueued {
			continue
		}
		if q, ok := e.cfg.Queue(c.Queue); a == nil || !ok || !hasSkills(a.cfg.Skills, q.Skills) {
			continue
		}
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		return out[i].CreatedAt < out[j].CreatedAt
	})
	return out
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
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.SweepIdle(ctx)
		}
	}
}

// SweepIdle ends every live chat whose last activity is older than its
// deployment's idle timeout, and closes the thread of every asynchronous
// conversation inactive for longer than threadInactivity. The sweeper calls
// it every minute; tests call it with an injected clock.
func (e *Engine) SweepIdle(ctx context.Context) {
	now := e.now()
	var idle, threads []string
	e.mu.Lock()
	for _, c := range e.chats {
		d, ok := e.cfg.Deployment(c.Deployment)
		if !ok {
			continue
		}
		quiet := now.Sub(time.UnixMilli(c.LastActivity))
		switch {
		case c.Mode == config.ModeLive && quiet > d.IdleTimeout:
			idle = append(idle, c.ID)
		case c.Mode == config.ModeAsync && c.ThreadOpen && quiet > d.ThreadInactivity:
			threads = append(threads, c.ID)
		}
	}
	e.mu.Unlock()
	for _, id := range idle {
		_, err := e.End(ctx, id, store.Party{Type: "System", Name: "system"}, "idle")
		if err != nil && !errors.Is(err, ErrEnded) {
			e.logger.Error("idle sweep: end chat", "chat", id, "err", err)
		}
	}
	at := now.UnixMilli()
	for _, id := range threads {
		_, _, err := e.Mutate(ctx, id, "", func(c *store.Chat) ([]store.Event, error) {
			if c.State == store.StateEnded || !c.ThreadOpen || !e.threadExpired(c, at) {
				return nil, nil
			}
			return []store.Event{e.closeThread(c, at, "inactivity")}, nil
		})
		if err != nil {
			e.logger.Error("idle sweep: close thread", "chat", id, "err", err)
		}
	}
}
