package servertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/plugins/webhooks"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/web"
)

// Options change the demo setup.
type Options struct {
	// Config replaces the demo configuration when set. Its data directory is
	// ignored: the store is always in a fresh t.TempDir(), unless DataDir is
	// set.
	Config *config.Config
	// DataDir reuses a store directory, for restart tests.
	DataDir string
	// Origins replaces the origins of every deployment.
	Origins []string
	// Now is the engine's clock.
	Now func() time.Time
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// NoSync skips fsync, for benchmarks that build large stores.
	NoSync bool
	// ImportConfig replaces the store's directory with Config's.
	ImportConfig bool
	// Demo runs as the demo setup does: / redirects to the demo page.
	Demo bool
	// PresenceGrace is the agents' presence grace; 0 for the default.
	PresenceGrace time.Duration
	// Webhooks tunes webhook delivery: tests use short backoffs.
	Webhooks webhooks.Options
	// GuestAttachWait is how long a guest chat waits for its event stream
	// before it is routed anyway (server.Options).
	GuestAttachWait time.Duration
	// Lifecycle tunes retention sweeps: tests sweep by hand.
	Lifecycle lifecycle.Options
	// ClusterAnnounce is how often a cluster node announces its agents.
	ClusterAnnounce time.Duration
}

// Gateway is a running gateway.
type Gateway struct {
	*server.Server
	URL   string // "http://127.0.0.1:PORT"
	WSURL string // "ws://127.0.0.1:PORT/v1/ws"
	Addr  string
	// AgentToken and AdminToken are the demo's (or the config's first
	// agent's) tokens.
	AgentToken string
	AdminToken string
}

// Start runs a gateway until the test ends. Rate limits are off unless the
// given config sets them; the per-IP budgets of chat starts, connections
// and store bytes are off unless it sets them to other than their defaults.
func Start(t testing.TB, o Options) *Gateway {
	t.Helper()
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Limits.ChatsPerIPPerMinute, cfg.Limits.ConnectionsPerIP, cfg.Limits.StoreBytesPerMinute = -1, -1, -1
	if o.Config != nil {
		cfg = *o.Config
		// The per-IP budgets below count every test's clients on one
		// address: off unless the config sets them to other than their
		// defaults (config.Demo applies the defaults).
		var def config.Config
		def.ApplyDefaults()
		for _, v := range []struct {
			got *int
			def int
		}{
			{&cfg.Limits.ChatsPerIPPerMinute, def.Limits.ChatsPerIPPerMinute},
			{&cfg.Limits.ConnectionsPerIP, def.Limits.ConnectionsPerIP},
			{&cfg.Limits.StoreBytesPerMinute, def.Limits.StoreBytesPerMinute},
		} {
			if *v.got == 0 || *v.got == v.def {
				*v.got = -1
			}
		}
	}
	cfg.Data = o.DataDir
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	if o.Origins != nil {
		for i := range cfg.Deployments {
			cfg.Deployments[i].Origins = o.Origins
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(cfg, server.Options{Static: web.Files(), Logger: o.Logger, Now: o.Now, NoSync: o.NoSync,
		Webhooks: o.Webhooks, GuestAttachWait: o.GuestAttachWait, Lifecycle: o.Lifecycle,
		PresenceGrace: o.PresenceGrace, Demo: o.Demo, ImportConfig: o.ImportConfig,
		ClusterAnnounce: o.ClusterAnnounce})
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: listen: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		// A test may close the store itself (readiness tests do).
		if st := srv.Store(); st != nil {
			if err := st.Check(); err != nil && !errors.Is(err, model.ErrClosed) {
				t.Errorf("servertest: bbolt consistency: %v", err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("servertest: shutdown: %v", err)
		}
	})
	g := &Gateway{Server: srv, Addr: ln.Addr().String(), AdminToken: cfg.AdminToken}
	g.URL = "http://" + g.Addr
	g.WSURL = "ws://" + g.Addr + "/v1/ws"
	if len(cfg.Agents) > 0 {
		g.AgentToken = cfg.Agents[0].Token
	}
	return g
}
