package agent

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/cxgate/cxgate/bus"
)

// ringSize is how many recent events each agent stream keeps for resumes.
const ringSize = 1024

// streamBase is where this process's stream positions start: a random
// epoch in the high bits, so that a position another process gave out (a
// node before its restart, another node of a cluster) falls outside this
// one's rings but by a one-in-a-million chance, and its resume is answered
// with a resync rather than with another stream's events. Positions stay
// below 2^53, exact in JavaScript.
func streamBase() uint64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	epoch := binary.BigEndian.Uint32(b[:])&(1<<20-1) | 1
	return uint64(epoch) << 32
}

// stream is one agent's recent events, in a ring: event at position p sits in
// slot p % ringSize. publish runs on the store's writer goroutine (chat
// events) and on command goroutines (left messages); after runs on
// transport goroutines.
type stream struct {
	mu    sync.Mutex
	topic string
	base  uint64 // the position before the first event this stream gave out
	head  uint64 // position of the newest event
	ring  []bus.Event
}

func newStream(topic string, base uint64) *stream {
	return &stream{topic: topic, base: base, head: base}
}

// publish numbers ev, keeps it and publishes it on b. Publishing under the
// lock keeps positions in publishing order when several goroutines publish;
// bus.Publish never blocks.
func (s *stream) publish(b *bus.Bus, ev bus.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b.Publish(s.push(ev))
}

// push numbers ev and keeps it; s.mu must be held.
func (s *stream) push(ev bus.Event) bus.Event {
	s.head++
	ev.Seq = s.head
	ev.Topic = s.topic
	for i := range ev.With {
		ev.With[i].Seq, ev.With[i].Topic = s.head, s.topic
	}
	if s.ring == nil {
		s.ring = make([]bus.Event, ringSize)
	}
	s.ring[s.head%ringSize] = ev
	return ev
}

// after returns the events after pos, or a resync event when pos is not
// within the ring.
func (s *stream) after(pos uint64, limit int) []bus.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest := max(s.base, s.head-min(s.head, ringSize)) // position just before the first kept event
	if pos < oldest || pos > s.head || pos == 0 {
		return []bus.Event{{Name: Name + ".resync", Topic: s.topic, Seq: s.head, Restart: true,
			Data: []byte(`{"reason":"resume position not available; reload listChats"}`)}}
	}
	n := min(int(s.head-pos), limit)
	out := make([]bus.Event, 0, n)
	for p := pos + 1; p <= pos+uint64(n); p++ {
		out = append(out, s.ring[p%ringSize])
	}
	return out
}
