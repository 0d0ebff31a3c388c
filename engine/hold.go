package engine

import (
	"time"

	"github.com/cxgate/cxgate/model"
)

// Routing holds: Genesys Cloud routes a guest chat only once the guest's
// event stream is attached, so that the agent's join reaches that stream. A
// chat started with StartRequest.HoldRouting stays out of routing until
// ReleaseRouting or until the hold's time is up, whichever comes first. The
// hold's end is in the chat's record (HoldUntil), so every engine that
// follows the log holds it, a cluster's leader on another node included;
// a release is told to the other nodes (Options.RoutingReleased,
// ApplyRelease). After a restart a chat is held for what is left of its
// time, unless its stream attaches again first.

// holdRouting keeps chatID out of routing for at most d; e.mu must not be
// held.
func (e *Engine) holdRouting(chatID string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.holdRoutingLocked(chatID, d)
}

// holdRoutingLocked is holdRouting with e.mu held.
func (e *Engine) holdRoutingLocked(chatID string, d time.Duration) {
	if e.holds == nil {
		e.holds = map[string]*time.Timer{}
	}
	if _, ok := e.holds[chatID]; ok || e.released[chatID] {
		return
	}
	e.holds[chatID] = time.AfterFunc(d, func() { e.release(chatID, false) })
}

// ReleaseRouting lets a held chat be routed now, here and on the other
// nodes; a chat without a hold is left as it is. It reports whether there
// was a hold here.
func (e *Engine) ReleaseRouting(chatID string) bool { return e.release(chatID, true) }

// ApplyRelease is a release another node made: the chat's stream attached
// there.
func (e *Engine) ApplyRelease(chatID string) { e.release(chatID, false) }

func (e *Engine) release(chatID string, tell bool) bool {
	e.mu.Lock()
	t, ok := e.holds[chatID]
	if ok {
		t.Stop()
		delete(e.holds, chatID)
	}
	// Remembered while the chat waits: its record, arriving later from
	// another node, must not hold it again.
	if e.released == nil {
		e.released = map[string]bool{}
	}
	if c := e.chats[chatID]; c == nil || c.State == model.StateQueued {
		e.released[chatID] = true
	}
	e.mu.Unlock()
	if tell && e.routingReleased != nil {
		e.routingReleased(chatID)
	}
	if ok {
		e.wake()
	}
	return ok
}

// trackHoldLocked holds a queued chat whose record says so, for what is
// left of its time, and forgets releases of chats that no longer wait;
// e.mu must be held.
func (e *Engine) trackHoldLocked(c *model.Chat) {
	if c.State != model.StateQueued {
		delete(e.released, c.ID)
		return
	}
	if left := c.HoldUntil - e.now().UnixMilli(); left > 0 {
		e.holdRoutingLocked(c.ID, time.Duration(left)*time.Millisecond)
	}
}

// heldLocked reports whether chatID is held out of routing; e.mu must be
// held.
func (e *Engine) heldLocked(chatID string) bool {
	_, ok := e.holds[chatID]
	return ok
}
