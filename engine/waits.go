package engine

import (
	"slices"

	"github.com/cxgate/cxgate/model"
)

// Recent waits: how long the last chats served from each queue waited for an
// agent, kept in memory (a restart starts afresh). A waiting visitor is told
// the median of them as what waits have lately been, not as a promise.
const (
	recentWaitsKept = 20 // served chats remembered per queue
	recentWaitsMin  = 3  // fewer than this and no figure is given
)

// waitRing holds the last recentWaitsKept waits of a queue, in ms.
type waitRing struct {
	ms   [recentWaitsKept]int64
	n    int // how many are set
	next int // where the next one goes
}

func (r *waitRing) add(ms int64) {
	r.ms[r.next] = ms
	r.next = (r.next + 1) % recentWaitsKept
	if r.n < recentWaitsKept {
		r.n++
	}
}

// median of the waits kept, false with fewer than recentWaitsMin.
func (r *waitRing) median() (int64, bool) {
	if r == nil || r.n < recentWaitsMin {
		return 0, false
	}
	s := slices.Clone(r.ms[:r.n])
	slices.Sort(s)
	return s[len(s)/2], true
}

// noteServed records the wait of a chat that left its queue for an agent:
// old was queued since queuedAt, c is no longer queued nor ended. e.mu must be
// held.
func (e *Engine) noteServedLocked(old, c *model.Chat, queuedAt int64) {
	if old == nil || old.State != model.StateQueued || c.State != model.StateActive || c.LastActivity < queuedAt {
		return
	}
	r := e.waits[old.Queue]
	if r == nil {
		r = &waitRing{}
		e.waits[old.Queue] = r
	}
	r.add(c.LastActivity - queuedAt)
}

// RecentWait is the median wait, in seconds, of the last chats served from
// queue (up to 20), and false while fewer than 3 were served since the start.
func (e *Engine) RecentWait(queue string) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.recentWaitLocked(queue)
}

func (e *Engine) recentWaitLocked(queue string) (int64, bool) {
	ms, ok := e.waits[queue].median()
	return (ms + 500) / 1000, ok
}
