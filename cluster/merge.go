package cluster

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cxgate/cxgate/model"
)

// delivered is what the merger handed the engine of one chat.
type delivered struct {
	seq   uint64    // the last seq delivered
	ended bool      // the chat had ended as of the last delivery
	at    time.Time // when it was last delivered
}

// held are a chat's writes that came after a gap, kept back in order until
// the missing events arrive from a peer or are read from the store.
type held struct {
	since  time.Time
	writes []model.Committed
	parts  []*batchParts // each write's batch, released when it is delivered
}

// add holds w, in the order of the first seq each write brings: a peer's
// write may arrive after later ones of this node.
func (h *held) add(w model.Committed, p *batchParts) {
	i := len(h.writes)
	for i > 0 && firstSeq(h.writes[i-1]) > firstSeq(w) {
		i--
	}
	h.writes = slices.Insert(h.writes, i, w)
	h.parts = slices.Insert(h.parts, i, p)
}

// firstSeq is the first seq w brings: its first event's, or the one after
// its record's for a write without events.
func firstSeq(w model.Committed) uint64 {
	if len(w.Events) > 0 {
		return w.Events[0].Seq
	}
	return w.Chat.LastSeq + 1
}

// batchParts answers a local batch's writers once every part of it was
// dispatched: the part delivered at once, and each write held back.
type batchParts struct {
	left atomic.Int32
	done func()
}

func (p *batchParts) release() {
	if p != nil && p.left.Add(-1) == 0 && p.done != nil {
		p.done()
	}
}

// merger is the goroutine that orders local and remote commits.
type merger struct {
	n    *Node
	last map[string]delivered
	held map[string]*held
	out  chan *model.Batch
}

// fillPage bounds one read of missing events.
const fillPage = 1000

// forgetEnded is how long the merger remembers a chat after its end: late
// duplicates of its events are dropped within it.
const forgetEnded = 5 * time.Minute

// Follow returns the engine's stream of commits: every batch of local (in
// the order the store gives them, each answered by the engine's Done as
// before) and the other nodes' commits, each chat's events once and in seq
// order. It publishes the local ones to the other nodes first. The stream
// closes when local does.
func (n *Node) Follow(ctx context.Context, local <-chan *model.Batch) <-chan *model.Batch {
	m := &merger{n: n, last: map[string]delivered{}, held: map[string]*held{}, out: make(chan *model.Batch, 64)}
	// What is open now is delivered as far as the store has it: the engine
	// loads it from there. A failure leaves the merger to learn chats as
	// they come.
	err := n.o.Log.OpenChats(ctx, func(c model.Chat) error {
		m.last[c.ID] = delivered{seq: c.LastSeq, at: time.Now()}
		return nil
	})
	if err != nil {
		n.logger.Warn("cluster: read open chats", "err", err)
	}
	go m.run(ctx, local)
	return m.out
}

func (m *merger) run(ctx context.Context, local <-chan *model.Batch) {
	defer close(m.out)
	reconcile := time.NewTicker(m.n.o.Reconcile)
	defer reconcile.Stop()
	// Checks held chats' waits; stopped while none is held.
	holds := time.NewTicker(m.n.o.Hold / 3)
	holds.Stop()
	holding := false
	passes := 0
	for {
		var ws []model.Committed
		var parts []*batchParts
		select {
		case b, ok := <-local:
			if !ok {
				// Held writes are delivered before the stream ends, so
				// that their writers are answered.
				ws, parts = m.releaseHeld(ctx, 0)
				m.emit(ws, parts)
				return
			}
			m.n.publishCommits(b.Writes)
			p := &batchParts{done: b.Done}
			p.left.Store(1)
			ws, parts = m.admit(ctx, b.Writes, p)
			parts = append(parts, p)
		case rws := <-m.n.remote:
			ws, parts = m.admit(ctx, rws, nil)
		case <-holds.C:
			ws, parts = m.releaseHeld(ctx, m.n.o.Hold)
		case <-reconcile.C:
			passes++
			ws, parts = m.reconcile(ctx, passes%5 == 0)
		}
		m.emit(ws, parts)
		switch {
		case len(m.held) > 0 && !holding:
			holds.Reset(m.n.o.Hold / 3)
			holding = true
		case len(m.held) == 0 && holding:
			holds.Stop()
			holding = false
		}
	}
}

// emit hands the engine ws; its Done releases parts.
func (m *merger) emit(ws []model.Committed, parts []*batchParts) {
	if len(ws) == 0 && len(parts) == 0 {
		return
	}
	m.out <- model.NewBatch(ws, func() {
		for _, p := range parts {
			p.release()
		}
	})
}

// admit returns what of ws the engine may have now, in order: each chat's
// events it has not had, up to a gap. The writes after a gap are held back
// (each taking a part of its batch p, nil for a remote one) until the
// missing events come; writes that close a gap bring the held ones after
// them. A chat this node knows nothing of is taken as it comes. It returns
// the parts of batches whose held writes are delivered with ws.
func (m *merger) admit(ctx context.Context, ws []model.Committed, p *batchParts) ([]model.Committed, []*batchParts) {
	var out []model.Committed
	var parts []*batchParts
	for _, w := range ws {
		id := w.Chat.ID
		w, gap, ok := m.next(w)
		if !ok {
			continue
		}
		if gap {
			if p != nil {
				p.left.Add(1)
			}
			h := m.held[id]
			if h == nil {
				h = &held{since: time.Now()}
				m.held[id] = h
			}
			h.add(w, p)
			continue
		}
		out = append(out, w)
		// A write that closes a gap lets the held ones go after it.
		if h := m.held[id]; h != nil {
			hw, hp := m.flush(ctx, id, false)
			out, parts = append(out, hw...), append(parts, hp...)
		}
	}
	return out, parts
}

// next takes w as the chat's next write: it drops the events delivered
// already and records what it delivers. It reports gap when w's first new
// event does not follow the last delivered (w is then not recorded), and
// !ok when nothing of w is new (a stale record, events delivered already).
func (m *merger) next(w model.Committed) (_ model.Committed, gap, ok bool) {
	id, head := w.Chat.ID, w.Chat.LastSeq
	d, known := m.last[id]
	evs := w.Events
	if known {
		i := 0
		for i < len(evs) && evs[i].Seq <= d.seq {
			i++
		}
		if i > 0 {
			m.n.dropped.Add(uint64(i))
		}
		evs = evs[i:]
		if head < d.seq || (len(evs) == 0 && len(w.Events) > 0) {
			return w, false, false
		}
		if firstSeq(model.Committed{Chat: w.Chat, Events: evs}) > d.seq+1 {
			return model.Committed{Chat: w.Chat, Events: evs}, true, true
		}
	}
	if len(evs) > 0 {
		// What was delivered, which a record read later may pass (a
		// fill's record is the held write's).
		head = evs[len(evs)-1].Seq
	}
	m.last[id] = delivered{seq: head, ended: w.Chat.State == model.StateEnded, at: time.Now()}
	return model.Committed{Chat: w.Chat, Events: evs}, false, true
}

// flush delivers chat id's held writes that now follow what was delivered;
// with fill, it first reads the events missing before them from the store.
// A chat whose gap stays (no fill, or a failed read) stays held.
func (m *merger) flush(ctx context.Context, id string, fill bool) ([]model.Committed, []*batchParts) {
	h := m.held[id]
	var out []model.Committed
	var parts []*batchParts
	if fill {
		d := m.last[id]
		if first := firstSeq(h.writes[0]); first > d.seq+1 {
			evs, err := m.fill(ctx, id, d.seq, first-1)
			if err != nil {
				m.n.logger.Warn("cluster: fill a gap from the store", "chat", id, "after", d.seq, "err", err)
				return nil, nil
			}
			if len(evs) > 0 {
				w, _, _ := m.next(model.Committed{Chat: h.writes[0].Chat, Events: evs})
				out = append(out, w)
			}
		}
	}
	for len(h.writes) > 0 {
		w, gap, ok := m.next(h.writes[0])
		if gap {
			break
		}
		if ok {
			out = append(out, w)
		}
		parts = append(parts, h.parts[0])
		h.writes, h.parts = h.writes[1:], h.parts[1:]
	}
	if len(h.writes) == 0 {
		delete(m.held, id)
	} else {
		h.since = time.Now()
	}
	return out, parts
}

// releaseHeld fills from the store the gaps of chats held for longer than
// wait, and delivers what follows them.
func (m *merger) releaseHeld(ctx context.Context, wait time.Duration) ([]model.Committed, []*batchParts) {
	var out []model.Committed
	var parts []*batchParts
	now := time.Now()
	for id, h := range m.held {
		if now.Sub(h.since) < wait {
			continue
		}
		ws, ps := m.flush(ctx, id, true)
		out, parts = append(out, ws...), append(parts, ps...)
	}
	return out, parts
}

// fill reads chat id's events after seq through upto.
func (m *merger) fill(ctx context.Context, id string, after, upto uint64) ([]model.Event, error) {
	var evs []model.Event
	for after < upto {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		page, err := m.n.o.Log.EventsAfter(rctx, id, after, int(min(upto-after, fillPage)))
		cancel()
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, ev := range page {
			if ev.Seq > upto {
				break
			}
			evs = append(evs, ev)
			after = ev.Seq
		}
		if len(page) < fillPage {
			break
		}
	}
	m.n.filled.Add(uint64(len(evs)))
	return evs, nil
}

// reconcile asks the store which chats grew beyond what was delivered and
// returns their missing events; with unknown set, also the open chats this
// node never heard of (their records, for the engine's view). It forgets
// chats that ended long enough ago.
func (m *merger) reconcile(ctx context.Context, unknown bool) ([]model.Committed, []*batchParts) {
	ctx, cancel := context.WithTimeout(ctx, m.n.o.Reconcile)
	defer cancel()
	known := make(map[string]uint64, len(m.last))
	forget := time.Now().Add(-forgetEnded)
	for id, d := range m.last {
		if d.ended {
			if d.at.Before(forget) && m.held[id] == nil {
				delete(m.last, id)
			}
			continue
		}
		known[id] = d.seq
	}
	heads, err := m.n.o.Log.Heads(ctx, known)
	if err != nil {
		m.n.logger.Warn("cluster: reconcile", "err", err)
		return nil, nil
	}
	var ws []model.Committed
	for id := range heads {
		if m.held[id] != nil {
			continue // its wait ends soon, with a fill
		}
		// The record, read after the heads, is at least as new: the
		// events up to its last seq are read with it.
		c, err := m.n.o.Log.Chat(ctx, id)
		if err != nil {
			m.n.logger.Warn("cluster: reconcile chat", "chat", id, "err", err)
			continue
		}
		d := m.last[id]
		evs, err := m.fill(ctx, id, d.seq, c.LastSeq)
		if err != nil {
			m.n.logger.Warn("cluster: reconcile chat", "chat", id, "err", err)
			continue
		}
		ws = append(ws, model.Committed{Chat: c, Events: evs})
	}
	if unknown {
		err := m.n.o.Log.OpenChats(ctx, func(c model.Chat) error {
			if _, ok := m.last[c.ID]; !ok {
				ws = append(ws, model.Committed{Chat: c})
			}
			return nil
		})
		if err != nil {
			m.n.logger.Warn("cluster: reconcile open chats", "err", err)
		}
	}
	return m.admit(ctx, ws, nil)
}
