package engine

import "github.com/cxgate/cxgate/model"

// Availability is what the proactive-trigger question ("would a chat
// offered now be served?") is answered from, for one queue and one set of
// needs. Agents count when they are online and have the queue's and the
// chat's skills and language, as routing would pick them.
type Availability struct {
	Queue              string
	AgentsOnline       int // online agents that could serve such a chat
	AgentsWithCapacity int // of those, the ones with a free chat slot
	FreeSlots          int // chats those agents can still take, together
	Queued             int // chats waiting in the queue now
}

// Available reports whether a chat offered now would be served at once:
// eligible online agents have more free slots than chats already wait.
func (a Availability) Available() bool { return a.FreeSlots > a.Queued }

// Availability counts the agents, free slots and waiting chats behind the
// availability of queue for a chat needing skills and language.
// ErrUnknownQueue if the queue is not configured.
func (e *Engine) Availability(queue string, skills []string, language string) (Availability, error) {
	q, ok := e.Config().Queue(queue)
	if !ok {
		return Availability{}, ErrUnknownQueue
	}
	probe := &model.Chat{Skills: skills, Language: language}
	out := Availability{Queue: q.Name}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.agents {
		if a.status != StatusOnline || !canServe(a.cfg, q, probe) {
			continue
		}
		out.AgentsOnline++
		if free := a.cfg.MaxChats - a.load(); free > 0 {
			out.AgentsWithCapacity++
			out.FreeSlots += free
		}
	}
	out.Queued = e.queuedInLocked(q.Name)
	return out, nil
}

// QueuedIn counts the chats waiting in queue.
func (e *Engine) QueuedIn(queue string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queuedInLocked(queue)
}

// queuedInLocked counts the chats waiting in queue; e.mu must be held.
func (e *Engine) queuedInLocked(queue string) int {
	n := 0
	for _, c := range e.chats {
		if c.State == model.StateQueued && c.Queue == queue {
			n++
		}
	}
	return n
}
