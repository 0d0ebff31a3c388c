package agent

import (
	"sync"

	"github.com/cxgate/cxgate/bus"
)

// ringSize is how many recent events each agent stream keeps for resumes.
const ringSize = 1024

// stream is one agent's recent events. push runs on the store's writer
// goroutine only; after runs on transport goroutines.
type stream struct {
	mu     sync.Mutex
	topic  string
	head   uint64 // position of the newest event
	events []bus.Event
}

func newStream(topic string, base uint64) *stream {
	return &stream{topic: topic, head: base}
}

// push numbers ev and keeps it; the caller publishes the returned event.
func (s *stream) push(ev bus.Event) bus.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.head++
	ev.Seq = s.head
	ev.Topic = s.topic
	for i := range ev.With {
		ev.With[i].Seq, ev.With[i].Topic = s.head, s.topic
	}
	if len(s.events) == ringSize {
		copy(s.events, s.events[1:])
		s.events = s.events[:ringSize-1]
	}
	s.events = append(s.events, ev)
	return ev
}

// after returns the events after pos, or a resync event when pos is not
// within the ring.
func (s *stream) after(pos uint64, limit int) []bus.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest := s.head - uint64(len(s.events)) // position just before the first kept event
	if pos < oldest || pos > s.head || pos == 0 {
		return []bus.Event{{Name: Name + ".resync", Topic: s.topic, Seq: s.head,
			Data: []byte(`{"reason":"resume position not available; reload listChats"}`)}}
	}
	i := int(pos - oldest)
	out := s.events[i:]
	if len(out) > limit {
		out = out[:limit]
	}
	return append([]bus.Event(nil), out...)
}
