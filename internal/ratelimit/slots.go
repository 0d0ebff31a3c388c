package ratelimit

import "sync"

// Slots bounds work in progress: at most perKey at once per key (a client
// IP) and total at once overall. A nil *Slots grants every slot.
type Slots struct {
	perKey, total int

	mu   sync.Mutex
	used map[string]int
	n    int
}

// NewSlots returns the bounds; a bound ≤ 0 is no bound, and both ≤ 0
// return nil.
func NewSlots(perKey, total int) *Slots {
	if perKey <= 0 && total <= 0 {
		return nil
	}
	return &Slots{perKey: perKey, total: total, used: map[string]int{}}
}

// Acquire takes a slot of key without waiting; ok is false when key or the
// total has none free. Call release once when the work ends.
func (s *Slots) Acquire(key string) (release func(), ok bool) {
	if s == nil {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if (s.total > 0 && s.n >= s.total) || (s.perKey > 0 && s.used[key] >= s.perKey) {
		return nil, false
	}
	s.n++
	s.used[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.n--
			if s.used[key]--; s.used[key] == 0 {
				delete(s.used, key)
			}
		})
	}, true
}

// Count is the number of slots key holds.
func (s *Slots) Count(key string) int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[key]
}
