package bus_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/cxgate/cxgate/bus"
)

// BenchmarkCommand is one command's dispatch: lookup, before hooks, the
// handler decoding its options, the result.
func BenchmarkCommand(b *testing.B) {
	bs := bus.New()
	p, err := bs.RegisterPlugin("Bench")
	if err != nil {
		b.Fatal(err)
	}
	err = p.RegisterCommand("echo", func(_ context.Context, call *bus.Call) (any, error) {
		var o struct {
			Message string `json:"message"`
		}
		if err := bus.DecodeOptions(call.Options, &o); err != nil {
			return nil, err
		}
		return o.Message, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := bs.Before("Bench.echo", func(context.Context, *bus.Call) error { return nil }); err != nil {
		b.Fatal(err)
	}
	bs.Start()
	defer bs.Close()
	caller := bus.Caller{Kind: bus.KindVisitor, ID: "c1", Deployment: "demo"}
	opts := []byte(`{"message":"hello, where is my order?"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bs.Command(ctx, caller, "Bench.echo", opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublish is one event's fan-out to the subscribers of its topic
// (a visitor's two tabs and an agent's console) among 1,000 other topics.
func BenchmarkPublish(b *testing.B) {
	bs := bus.New()
	bs.Start()
	defer bs.Close()
	for i := range 1000 {
		bs.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: bus.ChatTopic("other-" + strconv.Itoa(i))})
	}
	var subs []*bus.Subscription
	for range 3 {
		subs = append(subs, bs.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: bus.ChatTopic("c1"), Buffer: 1024}))
	}
	ev := bus.Event{Name: "WebChatService.messageReceived", Topic: bus.ChatTopic("c1"), Data: []byte(`{"messages":[]}`)}
	b.ReportAllocs()
	for b.Loop() {
		ev.Seq++
		bs.Publish(ev)
		for _, s := range subs {
			<-s.Events()
		}
	}
}
