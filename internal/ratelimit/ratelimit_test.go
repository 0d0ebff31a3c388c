package ratelimit

import (
	"testing"
	"time"
)

func TestLimiterWindows(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(3, time.Second)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d of 3 refused", i+1)
		}
	}
	ok, retry := l.Allow("a")
	if ok || retry != time.Second {
		t.Fatalf("fourth event: ok %v retry %v, want refused with 1s", ok, retry)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key shares the budget")
	}
	now = now.Add(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("the next window is still refused")
	}
	if len(l.counts) != 1 {
		t.Fatalf("%d keys kept after a window, want the one active", len(l.counts))
	}
}

func TestLimiterWeights(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(100, time.Minute)
	l.now = func() time.Time { return now }
	if ok, _ := l.AllowN("a", 250); !ok {
		t.Fatal("an event over the whole budget is refused even as the first of its window")
	}
	if ok, _ := l.AllowN("a", 1); ok {
		t.Fatal("the budget is not spent after an oversized event")
	}
	if ok, _ := l.AllowN("b", 60); !ok {
		t.Fatal("60 of 100 refused")
	}
	if ok, _ := l.AllowN("b", 50); ok {
		t.Fatal("110 of 100 allowed")
	}
}

func TestSlots(t *testing.T) {
	s := NewSlots(2, 3)
	r1, ok1 := s.Acquire("a")
	_, ok2 := s.Acquire("a")
	if _, ok := s.Acquire("a"); !ok1 || !ok2 || ok {
		t.Fatal("per-key bound of 2 not held")
	}
	if _, ok := s.Acquire("b"); !ok {
		t.Fatal("another key refused under the total")
	}
	if _, ok := s.Acquire("c"); ok {
		t.Fatal("total bound of 3 not held")
	}
	r1()
	r1() // a second release gives nothing back
	if _, ok := s.Acquire("c"); !ok {
		t.Fatal("a released slot is not free")
	}
	if _, ok := s.Acquire("d"); ok {
		t.Fatal("a double release freed two slots")
	}
}
