package agent

import (
	"testing"

	"github.com/cxgate/cxgate/bus"
)

// TestStreamRing checks positions, resumes within the ring, and resync for
// positions it no longer (or never) held, across wrap-around.
func TestStreamRing(t *testing.T) {
	const base = 1000
	s := newStream("agent/x", base)
	if evs := s.after(base, 10); len(evs) != 0 {
		t.Fatalf("empty stream after its base: %v", evs)
	}
	for i := 1; i <= ringSize+10; i++ {
		ev := s.push(bus.Event{Name: "AgentService.messageReceived"})
		if ev.Seq != uint64(base+i) {
			t.Fatalf("push %d got seq %d", i, ev.Seq)
		}
	}
	head := uint64(base + ringSize + 10)
	evs := s.after(head-3, 100)
	if len(evs) != 3 || evs[0].Seq != head-2 || evs[2].Seq != head {
		t.Fatalf("after head-3: %v", evs)
	}
	if evs := s.after(head-ringSize, 5); len(evs) != 5 || evs[0].Seq != head-ringSize+1 {
		t.Fatalf("after the oldest kept position: %v", evs)
	}
	for _, pos := range []uint64{0, base, head - ringSize - 1, head + 1} {
		evs := s.after(pos, 10)
		if len(evs) != 1 || evs[0].Name != "AgentService.resync" || evs[0].Seq != head {
			t.Fatalf("after %d: want one resync at %d, got %v", pos, head, evs)
		}
	}
	if evs := s.after(head, 10); len(evs) != 0 {
		t.Fatalf("after head: %v", evs)
	}
}
