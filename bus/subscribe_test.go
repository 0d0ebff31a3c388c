package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/bus"
)

// newStartedBus returns a started bus, closed at the end of the test.
func newStartedBus(t testing.TB) *bus.Bus {
	t.Helper()
	b := bus.New()
	b.Start()
	t.Cleanup(b.Close)
	return b
}

// drain returns the names of the events queued on s without waiting.
func drain(s *bus.Subscription) []string {
	var names []string
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return names
			}
			names = append(names, ev.Name)
		default:
			return names
		}
	}
}

// waitClosed waits until s's channel is closed, discarding what is queued.
func waitClosed(t testing.TB, s *bus.Subscription) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.Events():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription channel not closed")
		}
	}
}

func TestBus_Subscribe(t *testing.T) {
	names := []string{
		"WebChatService.messageReceived",
		"WebChatService.ended",
		"AgentService.chatAssigned",
		"WebChatServiceX.messageReceived",
	}
	for _, tc := range []struct {
		pattern string
		want    string
	}{
		{"WebChatService.messageReceived", "WebChatService.messageReceived"},
		{"WebChatService.*", "WebChatService.messageReceived,WebChatService.ended"},
		{"AgentService.*", "AgentService.chatAssigned"},
		{"*", strings.Join(names, ",")},
		{"Nobody.*", ""},
		{"", ""},
		{"WebChatService", ""},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			b := newStartedBus(t)
			s := b.Subscribe(bus.SubscribeOptions{Pattern: tc.pattern, Topic: "chat/c1"})
			defer s.Close()
			for i, n := range names {
				b.Publish(bus.Event{Name: n, Topic: "chat/c1", Seq: uint64(i + 1)})
			}
			if got := strings.Join(drain(s), ","); got != tc.want {
				t.Errorf("received %q, want %q", got, tc.want)
			}
			if err := s.Err(); err != nil {
				t.Errorf("Err() = %v, want nil while running", err)
			}
		})
	}
}

func TestBus_Subscribe_Topics(t *testing.T) {
	b := newStartedBus(t)
	subs := map[string]*bus.Subscription{}
	for _, topic := range []string{"", "chat/a", "chat/b", "agent/a"} {
		subs[topic] = b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: topic})
	}
	if got := b.Subscribers("chat/a"); got != 1 {
		t.Errorf("Subscribers(chat/a) = %d, want 1", got)
	}
	for i, topic := range []string{"chat/a", "chat/b", "agent/a", "", "chat/a"} {
		b.Publish(bus.Event{Name: fmt.Sprintf("P.e%d", i), Topic: topic, Seq: uint64(i)})
	}
	for topic, want := range map[string]string{
		"":        "P.e3",
		"chat/a":  "P.e0,P.e4",
		"chat/b":  "P.e1",
		"agent/a": "P.e2",
	} {
		if got := strings.Join(drain(subs[topic]), ","); got != want {
			t.Errorf("topic %q received %q, want %q", topic, got, want)
		}
	}
	// Nobody listens on chat/c: publishing there is a no-op.
	b.Publish(bus.Event{Name: "P.e", Topic: "chat/c"})
	for topic, s := range subs {
		if got := drain(s); len(got) != 0 {
			t.Errorf("topic %q received %v from chat/c", topic, got)
		}
	}
}

func TestBus_Publish_With(t *testing.T) {
	b := newStartedBus(t)
	all := b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: "chat/c1"})
	sibling := b.Subscribe(bus.SubscribeOptions{Pattern: "WebChatService.agentConnected", Topic: "chat/c1"})
	other := b.Subscribe(bus.SubscribeOptions{Pattern: "AgentService.*", Topic: "chat/c1"})
	unit := bus.Event{
		Name: "WebChatService.messageReceived", Topic: "chat/c1", Seq: 4, Data: []byte(`{"n":1}`),
		With: []bus.Event{{Name: "WebChatService.agentConnected", Topic: "chat/c1", Seq: 4, Data: []byte(`{"n":2}`)}},
	}
	b.Publish(unit)
	for name, s := range map[string]*bus.Subscription{"*": all, "sibling": sibling} {
		select {
		case ev := <-s.Events():
			if ev.Name != unit.Name || ev.Seq != 4 || len(ev.With) != 1 ||
				ev.With[0].Name != "WebChatService.agentConnected" || string(ev.With[0].Data) != `{"n":2}` {
				t.Errorf("%s: received %+v, want the whole unit", name, ev)
			}
		default:
			t.Errorf("%s: unit not delivered", name)
		}
	}
	if got := drain(other); len(got) != 0 {
		t.Errorf("AgentService.* received %v", got)
	}
}

func TestBus_Publish_SlowSubscriber(t *testing.T) {
	b := newStartedBus(t)
	const n = 10
	slow := b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: "chat/c1", Buffer: 1})
	fast := b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: "chat/c1", Buffer: n})
	done := make(chan []uint64)
	go func() {
		var seqs []uint64
		for ev := range fast.Events() {
			seqs = append(seqs, ev.Seq)
			if len(seqs) == n {
				break
			}
		}
		done <- seqs
	}()
	for i := 1; i <= n; i++ {
		b.Publish(bus.Event{Name: "P.e", Topic: "chat/c1", Seq: uint64(i)})
	}

	// The slow one keeps what fitted, then its channel is closed.
	var got []uint64
	for ev := range slow.Events() {
		got = append(got, ev.Seq)
	}
	if len(got) != 1 || got[0] != 1 {
		t.Errorf("slow subscriber received %v, want [1]", got)
	}
	if err := slow.Err(); !errors.Is(err, bus.ErrSlowSubscriber) {
		t.Errorf("slow Err() = %v, want ErrSlowSubscriber", err)
	}
	select {
	case seqs := <-done:
		if fmt.Sprint(seqs) != "[1 2 3 4 5 6 7 8 9 10]" {
			t.Errorf("fast subscriber received %v", seqs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fast subscriber did not get every event")
	}
	if err := fast.Err(); err != nil {
		t.Errorf("fast Err() = %v, want nil", err)
	}
	if got := b.Subscribers("chat/c1"); got != 1 {
		t.Errorf("Subscribers = %d, want 1 (the slow one removed)", got)
	}
	// Closing a dropped subscription keeps its reason.
	slow.Close()
	if err := slow.Err(); !errors.Is(err, bus.ErrSlowSubscriber) {
		t.Errorf("after Close, Err() = %v, want ErrSlowSubscriber", err)
	}
}

func TestSubscription_Close(t *testing.T) {
	b := newStartedBus(t)
	s := b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: "chat/c1"})
	s.Close()
	s.Close() // idempotent
	waitClosed(t, s)
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v, want nil after Close", err)
	}
	if got := b.Subscribers("chat/c1"); got != 0 {
		t.Errorf("Subscribers = %d, want 0", got)
	}
	b.Publish(bus.Event{Name: "P.e", Topic: "chat/c1"}) // must not panic on the closed channel
}

func TestBus_Close(t *testing.T) {
	b := bus.New()
	b.Start()
	var subs []*bus.Subscription
	for _, topic := range []string{"", "chat/a", "chat/a", "agent/b"} {
		subs = append(subs, b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: topic}))
	}
	b.Publish(bus.Event{Name: "P.e", Topic: "chat/a", Seq: 1})
	b.Close()
	b.Close() // idempotent
	for i, s := range subs {
		waitClosed(t, s)
		if err := s.Err(); !errors.Is(err, bus.ErrClosed) {
			t.Errorf("subs[%d].Err() = %v, want ErrClosed", i, err)
		}
		s.Close()
		if err := s.Err(); !errors.Is(err, bus.ErrClosed) {
			t.Errorf("subs[%d].Err() after Close = %v, want ErrClosed", i, err)
		}
	}
	late := b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: "chat/a"})
	waitClosed(t, late)
	if err := late.Err(); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Subscribe after Close: Err() = %v, want ErrClosed", err)
	}
	b.Publish(bus.Event{Name: "P.e", Topic: "chat/a", Seq: 2})
	if got := b.Subscribers("chat/a"); got != 0 {
		t.Errorf("Subscribers = %d after Close", got)
	}
}

func TestPlugin_Publish(t *testing.T) {
	b := bus.New()
	p, err := b.RegisterPlugin("WebChatService")
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	t.Cleanup(b.Close)
	s := b.Subscribe(bus.SubscribeOptions{Pattern: "WebChatService.*", Topic: "chat/c1"})
	p.Publish("ended", "chat/c1", 9, []byte(`{}`))
	select {
	case ev := <-s.Events():
		if ev.Name != "WebChatService.ended" || ev.Topic != "chat/c1" || ev.Seq != 9 || string(ev.Data) != "{}" {
			t.Errorf("event = %+v", ev)
		}
	default:
		t.Fatal("no event")
	}
}

// TestBus_Concurrent exercises every path at once; it is meant for -race.
func TestBus_Concurrent(t *testing.T) {
	b := bus.New()
	p, err := b.RegisterPlugin("P")
	if err != nil {
		t.Fatal(err)
	}
	mustRegister(t, p, "echo", echo)
	mustRegister(t, p, "private", echo, bus.Private())
	if err := b.Before("P.echo", func(context.Context, *bus.Call) error { return nil }); err != nil {
		t.Fatal(err)
	}
	b.Start()

	const workers, rounds = 8, 200
	topics := []string{"", "chat/a", "chat/b"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { // commands
			for i := range rounds {
				opts := fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i)
				res, err := b.Command(t.Context(), visitor, "P.echo", opts)
				if got, _ := res.(json.RawMessage); err != nil || string(got) != string(opts) {
					t.Errorf("echo = %v, %v", res, err)
					return
				}
				if _, err := b.Command(t.Context(), visitor, "P.private", nil); bus.CodeOf(err) != bus.CodeAccessDenied {
					t.Errorf("private = %v", err)
					return
				}
				if _, err := p.Command(t.Context(), visitor, "P.private", nil); err != nil {
					t.Errorf("own private = %v", err)
					return
				}
			}
		})
		wg.Go(func() { // publishers
			for i := range rounds {
				b.Publish(bus.Event{Name: "P.e", Topic: topics[i%len(topics)], Seq: uint64(i)})
			}
		})
		wg.Go(func() { // subscribers coming and going, some slow, some reading
			for i := range rounds / 10 {
				s := b.Subscribe(bus.SubscribeOptions{Pattern: "P.*", Topic: topics[(w+i)%len(topics)], Buffer: 1 + i%3})
				for range i % 4 {
					select {
					case <-s.Events():
					default:
					}
				}
				_ = s.Err()
				_ = b.Subscribers(topics[i%len(topics)])
				s.Close()
			}
		})
	}
	// Long-lived readers that keep up until the bus closes.
	var readers sync.WaitGroup
	for _, topic := range topics {
		s := b.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: topic, Buffer: 1 << 14})
		readers.Go(func() {
			for range s.Events() {
			}
			if err := s.Err(); !errors.Is(err, bus.ErrClosed) {
				t.Errorf("reader on %q ended with %v, want ErrClosed", topic, err)
			}
		})
	}
	wg.Wait()
	b.Close()
	readers.Wait()
}
