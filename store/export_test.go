package store

// Test hooks for the black-box tests in package store_test.

// QueueLen reports how many writes wait in s's queue for the writer.
func QueueLen(s *Store) int { return len(s.ops) }

// Closing reports whether Close has begun: from then on writes are refused.
func Closing(s *Store) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}
