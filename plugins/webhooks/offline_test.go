package webhooks_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestWebhooks_ReceiverOffAcrossRestart: nothing listens at the receiver's
// address (every attempt is refused) while one gateway runs, stops, and the
// next one starts on the same data and keeps trying; then the receiver comes
// up at that address, verifies every signature, and receives every event
// exactly once.
func TestWebhooks_ReceiverOffAcrossRestart(t *testing.T) {
	// An address on 127.0.0.1 where nothing listens until the receiver starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &receiver{t: t, URL: "http://" + addr, secrets: map[string][]string{"hook": {"secret-off"}}}
	r.status.Store(http.StatusOK)
	dir := t.TempDir()
	cfg := testConfig(r.hook("hook"))
	ctx := context.Background()

	// refused waits until every pending entry has failed at least n times
	// without an answer, and returns the attempts made so far.
	refused := func(t *testing.T, gw *servertest.Gateway, n, entries int) int {
		t.Helper()
		total := 0
		wiretest.WaitFor(t, 10*time.Second, func() bool {
			list, err := gw.Store().ListOutbox(ctx, model.OutboxPending, 0, 100)
			if err != nil || len(list) != entries {
				return false
			}
			total = 0
			for _, e := range list {
				if e.Attempts < n {
					return false
				}
				total += e.Attempts
			}
			return true
		})
		list, _ := gw.Store().ListOutbox(ctx, model.OutboxPending, 0, 100)
		for _, e := range list {
			if e.LastStatus != 0 || e.LastError == "" {
				t.Errorf("entry %d: status %d, error %q; want a refused connection", e.ID, e.LastStatus, e.LastError)
			}
		}
		return total
	}

	var want map[string]string
	var before int
	t.Run("Off", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir, Webhooks: fast, Config: cfg})
		_, want = liveChat(t, gw)
		before = refused(t, gw, 2, len(want))
		// The subtest's end stops this gateway with every delivery pending.
	})
	if t.Failed() {
		return
	}

	// Still off after the restart: the new gateway resumes the outbox and
	// keeps failing.
	gw := servertest.Start(t, servertest.Options{DataDir: dir, Webhooks: fast, Config: cfg})
	if after := refused(t, gw, 4, len(want)); after <= before {
		t.Fatalf("%d attempts after the restart, %d before: the outbox did not resume", after, before)
	}
	if _, ok := r.attempts(); len(ok) != 0 {
		t.Fatalf("received while off: %v", ok)
	}

	// Up at the same address.
	up, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(up) }()
	t.Cleanup(func() { _ = srv.Close() })
	waitDelivered(t, gw, r, "hook", want)
	all, ok := r.attempts()
	for id := range want {
		if k := "hook " + id; ok[k] != 1 || all[k] != 1 {
			t.Errorf("%s: %d requests, %d answered 2xx; want 1 and 1", id, all[k], ok[k])
		}
	}
}
