package webhooks

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// TestRun_DeliversFeedLeftBehind: events committed while the feed was on but
// never turned into deliveries (the process stopped between the commit and
// the pump, as a kill -9 would leave them) are delivered once the next
// process runs, each once.
func TestRun_DeliversFeedLeftBehind(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get(HeaderDelivery)]++
		mu.Unlock()
	}))
	defer recv.Close()

	path := filepath.Join(t.TempDir(), "cxgate.db")
	ctx := context.Background()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.SetChangeFeed(true)
	joined := model.Event{Type: model.EventParticipantJoined, From: model.Party{ID: "v", Type: model.PartyClient}, Time: 1}
	if _, _, err := st.CreateChat(ctx, model.NewChat{Chat: model.Chat{ID: "c1", Deployment: "demo", Mode: model.ModeLive, State: model.StateQueued},
		Events: []model.Event{joined}}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := st.Mutate(ctx, "c1", "", func(*model.Chat) ([]model.Event, error) {
		return []model.Event{{Type: model.EventMessage, From: joined.From, Text: "hello", Time: 2}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // no pump ran: only the rows hold the deliveries
		t.Fatal(err)
	}

	st, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, _ := st.ChangeFeedDepth(ctx); n != 2 {
		t.Fatalf("%d feed rows after the restart, want 2", n)
	}
	cfg := config.Demo()
	cfg.AllowPrivateWebhooks = true
	cfg.Webhooks = []config.Webhook{{ID: "hook", URL: recv.URL, Secret: "s"}}
	cfg.ApplyDefaults()
	o := Options{BaseBackoff: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	o.applyDefaults()
	o.Client = recv.Client()
	s := &Service{store: st, engine: engine.New(cfg, st, engine.Options{}), opts: o, now: o.Now, logger: o.Logger, kick: make(chan struct{}, 1)}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	want := []string{EventID("c1", 1, EventChatStarted), EventID("c1", 1, EventThreadCreated), EventID("c1", 2, EventMessageCreated)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, id := range want {
			if got[id] > 0 {
				n++
			}
		}
		mu.Unlock()
		if n == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want each of %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, _ := st.ChangeFeedDepth(ctx); n != 0 {
		t.Errorf("%d feed rows left after the pump", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times, want 1", id, got[id])
		}
	}
}
