package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
)

// Run: go test -run '^$' -bench . -benchtime 2s ./store/pgstore
//
// Appends of a 200-byte message, group-committed (the server's fsync on),
// from writers goroutines on one chat or each on a chat of its own.

func BenchmarkAppend(b *testing.B) {
	ev := model.Event{Type: model.EventMessage, From: model.Party{ID: "v", Type: model.PartyClient},
		Text: strings.Repeat("x", 140), Time: 1_700_000_000_001}
	fn := func(*model.Chat) ([]model.Event, error) { return []model.Event{ev}, nil }
	for _, spread := range []bool{false, true} {
		for _, writers := range []int{1, 16, 64} {
			name := fmt.Sprintf("oneChat/writers=%d", writers)
			if spread {
				name = fmt.Sprintf("chatEach/writers=%d", writers)
			}
			b.Run(name, func(b *testing.B) {
				s, _ := openTest(b)
				ctx := context.Background()
				chatOf := func(w int) string {
					if spread {
						return fmt.Sprint("bench-", w)
					}
					return "bench-0"
				}
				for w := range writers {
					if w == 0 || spread {
						if _, _, err := s.CreateChat(ctx, chat(chatOf(w), "")); err != nil {
							b.Fatal(err)
						}
					}
				}
				work := make(chan struct{})
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						for range work {
							if _, _, _, err := s.Mutate(ctx, chatOf(w), "", fn); err != nil {
								b.Error(err)
							}
						}
					})
				}
				start := time.Now()
				for b.Loop() {
					work <- struct{}{}
				}
				close(work)
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
			})
		}
	}
}
