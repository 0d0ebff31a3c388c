package webchat_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat"
	"github.com/cxgate/cxgate/server/servertest"
)

// BenchmarkFetchHistory measures WebChatService.fetchHistory through the bus,
// as a visitor calls it: a page of 100 messages before a random point of an
// asynchronous chat holding 1,000,000 events. Target: under 2 ms a page.
func BenchmarkFetchHistory(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1,000,000-event chat")
	}
	const events = 1_000_000
	gw := servertest.Start(b, servertest.Options{NoSync: true})
	ctx := context.Background()
	res, err := gw.Bus().Command(ctx, bus.Caller{Kind: bus.KindGuest, Deployment: "demo-async"},
		"WebChatService.startChat", []byte(`{"nickname":"bench"}`))
	if err != nil {
		b.Fatal(err)
	}
	chatID := res.(webchat.StartResult).ChatID
	// Append in large transactions: setup speed only, not what is measured.
	for n := 1; n < events; {
		batch := make([]model.Event, 0, 2000)
		for ; len(batch) < cap(batch) && n < events; n++ {
			batch = append(batch, model.Event{Type: model.EventMessage, Time: int64(n),
				From: model.Party{ID: "v", Name: "bench", Type: model.PartyClient}, Text: fmt.Sprintf("message number %d of the history", n)})
		}
		if _, _, _, err := gw.Store().Mutate(ctx, chatID, "", func(*model.Chat) ([]model.Event, error) { return batch, nil }); err != nil {
			b.Fatal(err)
		}
	}
	caller := bus.Caller{Kind: bus.KindVisitor, ID: chatID, Deployment: "demo-async"}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	var empty int
	for b.Loop() {
		before := 101 + rng.Uint64N(events-101)
		opts := fmt.Appendf(nil, `{"before":%d,"limit":100}`, before)
		r, err := gw.Bus().Command(ctx, caller, "WebChatService.fetchHistory", opts)
		if err != nil || r == nil {
			empty++
		}
	}
	b.ReportMetric(float64(empty), "failed")
}
