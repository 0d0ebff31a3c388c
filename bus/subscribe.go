package bus

import (
	"errors"
	"strings"
	"sync"
)

// ErrSlowSubscriber is the Err of a subscription dropped because its buffer
// was full. The subscriber resumes from its last seq through Bus.Feed.
var ErrSlowSubscriber = errors.New("bus: subscriber fell behind and was dropped")

// DefaultBuffer is the channel size of a subscription that asks for none.
const DefaultBuffer = 64

// SubscribeOptions selects events.
type SubscribeOptions struct {
	// Pattern is a full event name, "<Plugin>.*", or "*".
	Pattern string
	// Topic narrows the subscription to one stream; empty receives only
	// global events.
	Topic string
	// Buffer is the channel size; zero means DefaultBuffer.
	Buffer int
	// Notify, if set, is called after an event is queued on the channel and
	// when the subscription ends, so a subscriber need not keep a goroutine
	// parked on the channel. It runs on the publisher's goroutine: it must
	// not block.
	Notify func()
}

// Subscription is one subscriber's bounded queue of events.
type Subscription struct {
	bus     *Bus
	topic   string
	pattern string
	prefix  string // "Plugin." for a wildcard, empty otherwise
	c       chan Event
	notify  func()

	once sync.Once
	err  error // set before c is closed
}

// Subscribe starts a subscription. It never fails: a subscription on a
// closed bus is returned already closed with ErrClosed.
func (b *Bus) Subscribe(o SubscribeOptions) *Subscription {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	s := &Subscription{bus: b, topic: o.Topic, pattern: o.Pattern, c: make(chan Event, o.Buffer), notify: o.Notify}
	if p, ok := strings.CutSuffix(o.Pattern, ".*"); ok {
		s.prefix = p + "."
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.end(ErrClosed)
		return s
	}
	set := b.subs[o.Topic]
	if set == nil {
		set = make(map[*Subscription]struct{})
		b.subs[o.Topic] = set
	}
	set[s] = struct{}{}
	return s
}

// Events is the subscription's channel; it is closed when the subscription
// ends, and Err says why.
func (s *Subscription) Events() <-chan Event { return s.c }

// Err is nil while the subscription runs, then ErrSlowSubscriber, ErrClosed,
// or nil after Close.
func (s *Subscription) Err() error {
	s.bus.mu.RLock()
	defer s.bus.mu.RUnlock()
	return s.err
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remove(s, nil)
}

// remove must be called with b.mu held for writing.
func (b *Bus) remove(s *Subscription, err error) {
	if set := b.subs[s.topic]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(b.subs, s.topic)
		}
	}
	s.end(err)
}

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.c)
		if s.notify != nil {
			s.notify()
		}
	})
}

// matchesUnit reports whether any event of the unit ev matches: a unit is
// delivered whole or not at all.
func (s *Subscription) matchesUnit(ev *Event) bool {
	if s.matches(ev.Name) {
		return true
	}
	for i := range ev.With {
		if s.matches(ev.With[i].Name) {
			return true
		}
	}
	return false
}

func (s *Subscription) matches(name string) bool {
	switch {
	case s.pattern == "*":
		return true
	case s.prefix != "":
		return strings.HasPrefix(name, s.prefix)
	}
	return s.pattern == name
}

// Publish delivers ev to every matching subscription of its topic without
// blocking; subscribers whose buffer is full are dropped. A subscription
// matches the unit when it matches ev or one of ev.With.
func (b *Bus) Publish(ev Event) {
	b.published.Add(1)
	var slow []*Subscription
	b.mu.RLock()
	for s := range b.subs[ev.Topic] {
		if !s.matchesUnit(&ev) {
			continue
		}
		select {
		case s.c <- ev:
			if s.notify != nil {
				s.notify()
			}
		default:
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	if len(slow) == 0 {
		return
	}
	b.dropped.Add(uint64(len(slow)))
	b.mu.Lock()
	for _, s := range slow {
		b.remove(s, ErrSlowSubscriber)
	}
	b.mu.Unlock()
}

// Publish publishes "<plugin>.<name>".
func (p *Plugin) Publish(name, topic string, seq uint64, data []byte) {
	p.bus.Publish(Event{Name: p.name + "." + name, Topic: topic, Seq: seq, Data: data})
}

// Subscribers counts live subscriptions on a topic ("" for global).
func (b *Bus) Subscribers(topic string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs[topic])
}

// Close ends every subscription with ErrClosed and refuses new commands.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.stopped.Store(true)
	for _, set := range b.subs {
		for s := range set {
			b.remove(s, ErrClosed)
		}
	}
}
