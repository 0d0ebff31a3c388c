package engine

import (
	"time"

	"github.com/cxgate/cxgate/model"
)

// QueueStats is one queue's waiting chats.
type QueueStats struct {
	Waiting    int
	OldestWait time.Duration // how long the longest-waiting chat has waited; 0 for none
}

// ChatKind is a deployment and a mode: the labels of the active chat count.
type ChatKind struct {
	Deployment string
	Mode       model.Mode
}

// Stats is what the engine's view holds, for the operators' gauges.
type Stats struct {
	Queues    map[string]QueueStats     // every configured queue, and any a waiting chat names
	Agents    map[model.AgentStatus]int // agents by status, every status present
	FreeSlots int                       // free chat slots of the online agents
	Active    map[ChatKind]int          // chats with an agent in them; every configured deployment present
}

// Stats reads the view once. Waits are counted from when a chat entered its
// queue (created, requeued, transferred, a new thread), as seen by this
// process: a chat already waiting before a restart counts from its last
// event.
func (e *Engine) Stats() Stats {
	cfg := e.Config()
	now := e.now().UnixMilli()
	s := Stats{Queues: map[string]QueueStats{}, Agents: map[model.AgentStatus]int{StatusOnline: 0, StatusAway: 0, StatusOffline: 0},
		Active: map[ChatKind]int{}}
	for _, q := range cfg.Queues {
		s.Queues[q.Name] = QueueStats{}
	}
	for _, d := range cfg.Deployments {
		s.Active[ChatKind{d.Key, d.Mode}] = 0 // a series from the start, not from the first chat
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.chats {
		switch c.State {
		case model.StateQueued:
			q := s.Queues[c.Queue]
			q.Waiting++
			if since, ok := e.queuedAt[c.ID]; ok && now > since {
				q.OldestWait = max(q.OldestWait, time.Duration(now-since)*time.Millisecond)
			}
			s.Queues[c.Queue] = q
		case model.StateActive:
			s.Active[ChatKind{c.Deployment, c.Mode}]++
		}
	}
	for _, a := range e.agents {
		s.Agents[a.status]++
		if a.status == StatusOnline {
			s.FreeSlots += max(0, a.cfg.MaxChats-a.load())
		}
	}
	return s
}
