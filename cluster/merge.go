package cluster

import (
	"context"
	"time"

	"github.com/cxgate/cxgate/model"
)

// delivered is what the merger handed the engine of one chat.
type delivered struct {
	seq   uint64    // the last seq delivered
	ended bool      // the chat had ended as of the last delivery
	at    time.Time // when it was last delivered
}

// merger is the goroutine that orders local and remote commits.
type merger struct {
	n    *Node
	last map[string]delivered
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
	m := &merger{n: n, last: map[string]delivered{}, out: make(chan *model.Batch, 64)}
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
	tick := time.NewTicker(m.n.o.Reconcile)
	defer tick.Stop()
	passes := 0
	for {
		select {
		case b, ok := <-local:
			if !ok {
				return
			}
			m.n.publishCommits(b.Writes)
			m.out <- model.NewBatch(m.admit(ctx, b.Writes), b.Done)
		case ws := <-m.n.remote:
			if ws := m.admit(ctx, ws); len(ws) > 0 {
				m.out <- model.NewBatch(ws, nil)
			}
		case <-tick.C:
			passes++
			if ws := m.reconcile(ctx, passes%5 == 0); len(ws) > 0 {
				m.out <- model.NewBatch(ws, nil)
			}
		}
	}
}

// admit returns what of ws the engine has not had, completed from the
// store where ws skips seqs (up to each chat record's last seq). A chat
// whose gap cannot be filled now is left out: the reconciler brings it
// later, in order. A chat this node knows nothing of is taken as it comes.
func (m *merger) admit(ctx context.Context, ws []model.Committed) []model.Committed {
	out := make([]model.Committed, 0, len(ws))
	now := time.Now()
	for _, w := range ws {
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
				continue // a stale record, or events delivered already
			}
			next := head + 1 // the first seq w brings
			if len(evs) > 0 {
				next = evs[0].Seq
			}
			if next > d.seq+1 {
				fill, err := m.fill(ctx, id, d.seq, next-1)
				if err != nil {
					m.n.logger.Warn("cluster: fill a gap from the store", "chat", id, "after", d.seq, "err", err)
					continue
				}
				evs = append(fill, evs...)
			}
		}
		if len(evs) > 0 {
			head = max(head, evs[len(evs)-1].Seq)
		}
		m.last[id] = delivered{seq: head, ended: w.Chat.State == model.StateEnded, at: now}
		out = append(out, model.Committed{Chat: w.Chat, Events: evs})
	}
	return out
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
func (m *merger) reconcile(ctx context.Context, unknown bool) []model.Committed {
	ctx, cancel := context.WithTimeout(ctx, m.n.o.Reconcile)
	defer cancel()
	known := make(map[string]uint64, len(m.last))
	forget := time.Now().Add(-forgetEnded)
	for id, d := range m.last {
		if d.ended {
			if d.at.Before(forget) {
				delete(m.last, id)
			}
			continue
		}
		known[id] = d.seq
	}
	heads, err := m.n.o.Log.Heads(ctx, known)
	if err != nil {
		m.n.logger.Warn("cluster: reconcile", "err", err)
		return nil
	}
	var ws []model.Committed
	for id := range heads {
		// The record, read after the heads, is at least as new: admit
		// fills the events up to its last seq.
		c, err := m.n.o.Log.Chat(ctx, id)
		if err != nil {
			m.n.logger.Warn("cluster: reconcile chat", "chat", id, "err", err)
			continue
		}
		ws = append(ws, model.Committed{Chat: c})
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
	if len(ws) == 0 {
		return nil
	}
	return m.admit(ctx, ws)
}
