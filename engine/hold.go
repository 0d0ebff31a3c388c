package engine

import "time"

// Routing holds: Genesys Cloud routes a guest chat only once the guest's
// event stream is attached, so that the agent's join reaches that stream. A
// chat started with StartRequest.HoldRouting stays out of routing until
// ReleaseRouting or until the hold's time is up, whichever comes first. The
// holds live in memory: after a restart a held chat is routed at once.

// holdRouting keeps chatID out of routing for at most d; e.mu must not be
// held.
func (e *Engine) holdRouting(chatID string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.holds == nil {
		e.holds = map[string]*time.Timer{}
	}
	if _, ok := e.holds[chatID]; ok {
		return
	}
	e.holds[chatID] = time.AfterFunc(d, func() { e.ReleaseRouting(chatID) })
}

// ReleaseRouting lets a held chat be routed now; a chat without a hold is
// left as it is. It reports whether there was a hold.
func (e *Engine) ReleaseRouting(chatID string) bool {
	e.mu.Lock()
	t, ok := e.holds[chatID]
	if ok {
		t.Stop()
		delete(e.holds, chatID)
	}
	e.mu.Unlock()
	if ok {
		e.wake()
	}
	return ok
}

// heldLocked reports whether chatID is held out of routing; e.mu must be
// held.
func (e *Engine) heldLocked(chatID string) bool {
	_, ok := e.holds[chatID]
	return ok
}
