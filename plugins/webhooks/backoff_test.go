package webhooks

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	s := &Service{opts: Options{BaseBackoff: time.Second, MaxBackoff: time.Hour}}
	tests := []struct {
		attempts int
		want     time.Duration // before jitter
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {10, 512 * time.Second},
		{13, time.Hour}, {63, time.Hour}, {64, time.Hour}, {1000, time.Hour},
	}
	for _, tc := range tests {
		for range 50 {
			got := s.backoff(tc.attempts)
			if lo, hi := tc.want-tc.want/10, tc.want+tc.want/10; got < lo || got > hi {
				t.Fatalf("backoff(%d) = %v, want within %v..%v", tc.attempts, got, lo, hi)
			}
		}
	}
}
