package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/gateway"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/admin"
	"github.com/cxgate/cxgate/plugins/agent"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/plugins/webchat"
	"github.com/cxgate/cxgate/plugins/webhooks"
	"github.com/cxgate/cxgate/store"
	adminapi "github.com/cxgate/cxgate/transports/adminapi"
	"github.com/cxgate/cxgate/transports/gms"
	"github.com/cxgate/cxgate/transports/native"
)

// Options are what a configuration file does not say.
type Options struct {
	Static fs.FS            // browser files served at /; nil for none
	Logger *slog.Logger     // nil for slog.Default()
	Now    func() time.Time // the engine's clock; nil for time.Now
	// NoSync skips fsync: benchmarks of everything but the disk only.
	NoSync bool
	// ImportConfig replaces the store's directory (deployments, queues,
	// agents, webhooks) with the configuration's at start.
	ImportConfig bool
	// Demo sends visitors of / to the demo page.
	Demo bool
	// PresenceGrace is how long an online agent without a connection keeps
	// its status and chats; 0 for the minute DESIGN.md gives.
	PresenceGrace time.Duration
	// Webhooks tunes webhook delivery (backoff, attempts, timeouts); its
	// Logger defaults to Logger.
	Webhooks webhooks.Options
	// GuestAttachWait is how long a guest chat waits for its event stream
	// before it is routed anyway; 30 s.
	GuestAttachWait time.Duration
	// ClusterAnnounce is how often a cluster node announces its connected
	// agents; 0 for cluster.Options' 2 s. Tests shorten it.
	ClusterAnnounce time.Duration
	// Lifecycle tunes retention sweeps and export links; its Logger
	// defaults to Logger, its clock to the engine's.
	Lifecycle lifecycle.Options
}

// Server is a wired gateway.
type Server struct {
	cfg    config.Config
	logger *slog.Logger
	// db is the store, bbolt's or PostgreSQL's; store is bbolt's (nil on
	// PostgreSQL) for what only it does (backups, its file's size).
	db      backend
	store   *store.Store
	stage   func(ctx context.Context) (native.Staged, error)
	stats   func() store.Stats
	cluster *clustering // nil on bbolt
	bus     *bus.Bus
	engine  *engine.Engine
	native  *native.Transport
	gateway *gateway.App
	hooks   *webhooks.Service
	data    *lifecycle.Service

	metrics *gateway.Metrics
	backups chan struct{} // one slot: one backup at a time
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// metricsSrv serves /metrics on cfg.MetricsAddr, on metricsLn; nil
	// when /metrics is on the main listener.
	metricsSrv *http.Server
	metricsLn  net.Listener
}

// warnUnsignedIdentities logs, at every start, each deployment that takes a
// visitor's uuid unsigned: it is an opt-in that hands a visitor's history to
// whoever knows or guesses the uuid, and an operator should be reminded.
func warnUnsignedIdentities(l *slog.Logger, cfg config.Config) {
	for _, d := range cfg.Deployments {
		if d.Identity == config.IdentityUnsignedUUID {
			l.Warn("deployment takes unsigned visitor uuids: anyone who knows or guesses a uuid reads and writes that visitor's conversations; use identity: signed",
				"deployment", d.Key, "identity", d.Identity)
		}
	}
}

// DBFile is the store's file name inside the data directory.
const DBFile = "cxgate.db"

// New opens the store in cfg.Data and wires everything. Call Serve, then
// Shutdown.
func New(cfg config.Config, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server: config: %w", err)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	s := &Server{cfg: cfg, logger: o.Logger, metrics: gateway.NewMetrics(), backups: make(chan struct{}, 1)}
	st, err := s.openStore(cfg, o)
	if err != nil {
		return nil, err
	}
	// The directory (deployments, queues, agents, webhooks) is the store's,
	// seeded from cfg when the store has none; the rest of cfg is the file's.
	load := admin.LoadDirectory
	if o.ImportConfig {
		load = admin.ImportDirectory
	}
	if cfg, err = load(context.Background(), st, cfg, o.Logger); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.cfg = cfg
	warnUnsignedIdentities(o.Logger, cfg)
	s.engine = engine.New(cfg, s.engineLog(), engine.Options{Now: o.Now, Logger: o.Logger, StartKey: st.SessionKey(),
		// An agent is present while it has a socket or a long-poll open,
		// here or, on a cluster, on another node.
		Presence:     s.present,
		Leading:      s.leads,
		StatusChosen: s.statusChosen,
		Ephemeral:    s.ephemeral,
		RoutingReleased: func(chatID string) {
			if s.cluster != nil && s.cluster.node != nil {
				s.cluster.node.PublishRelease(chatID)
			}
		},
		// Left messages commit with their webhook deliveries, like events.
		MessageOutbox: func(event string, m model.LeftMessage) []model.OutboxEntry { return s.hooks.MessageOutbox(event, m) },
		PresenceGrace: o.PresenceGrace,
		Statuses:      st,
	})
	s.observeDirectory()
	times := newChatTimes(o.Logger)
	s.engine.Observe(times.observe)
	s.metrics.Register(times.wait)
	s.metrics.Register(times.firstResponse)
	s.metrics.Register(newViewCollector(s.engine, dbPath(cfg.Data)))
	rated := newRatings()
	s.engine.Observe(rated.observe)
	s.metrics.Register(rated.total)
	s.bus = bus.New()
	if err := s.bus.ObserveCommands(s.metrics.ObserveCommand); err != nil {
		st.Close()
		return nil, err
	}
	lim := newLimits(cfg.Limits)
	if err := lim.guard(s.bus); err != nil {
		st.Close()
		return nil, err
	}
	auth := &authFailures{logger: o.Logger, metrics: s.metrics, interval: 10 * time.Second}
	if err := s.bus.ObserveAuthFailures(auth.observe); err != nil {
		st.Close()
		return nil, err
	}
	if _, err := webchat.Register(s.bus, s.engine, webchat.Options{SessionKey: st.SessionKey(), AttachWait: o.GuestAttachWait}); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: WebChatService: %w", err)
	}
	if _, err := agent.Register(s.bus, s.engine, cfg.AdminToken); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: AgentService: %w", err)
	}
	if o.Webhooks.Logger == nil {
		o.Webhooks.Logger = o.Logger
	}
	if s.hooks, err = webhooks.Register(s.bus, st, s.engine, o.Webhooks); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: WebhookService: %w", err)
	}
	if _, err := admin.Register(s.bus, s.engine, st, admin.Options{Logger: o.Logger}); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: AdminService: %w", err)
	}
	if err := s.registerLifecycle(o.Lifecycle); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: DataService: %w", err)
	}
	s.bus.Start()
	if err := s.engine.Load(context.Background()); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: load open chats: %w", err)
	}
	s.native = native.New(s.bus, native.Config{
		OriginAllowed: func(deployment, origin string) bool {
			d, ok := s.engine.Config().Deployment(deployment)
			return ok && d.AllowsOrigin(origin)
		},
		AnyOriginAllowed: s.anyOrigin,
		FrameBytes:       cfg.Limits.BodyBytes,
		LongPollMax:      time.Duration(cfg.Limits.LongPollSeconds) * time.Second,
		Heartbeat:        time.Duration(cfg.Limits.HeartbeatSeconds) * time.Second,
		IPLimiter:        lim.perIP,
		TokenLimiter:     lim.perToken,
		ChatSockets:      lim.chatSockets,
		Logger:           o.Logger,
		PublicURL:        cfg.PublicOrigin(),
		Stager:           stager(s.stage),
		FileLimit:        s.fileLimit,
	})
	s.gateway = gateway.New(gateway.Config{
		BodyLimit:    cfg.Limits.BodyBytes,
		UploadLimit:  uploadLimit(&cfg),
		Static:       publicFiles(o.Static, cfg.Demo),
		AllowOrigin:  s.anyOrigin,
		RatePerIP:    cfg.Limits.RatePerIP,
		RatePerToken: cfg.Limits.RatePerToken,
		IPLimiter:    lim.perIP,
		TokenLimiter: lim.perToken,
		ConnsPerIP:   cfg.Limits.ConnectionsPerIP,
		Uploads:      lim.uploads,
		Ready:        s.ready,
		Logger:       o.Logger,
		Metrics:      s.metrics,
		AdminToken:   cfg.AdminToken,

		TrustedProxies:   cfg.TrustedProxies,
		FrameAncestors:   cfg.FrameAncestors,
		MetricsElsewhere: cfg.MetricsAddr != "",
		Loader:           (&loaders{config: s.engine.Config}).get,
		PublicURL:        cfg.PublicOrigin(),
		Backup:           s.backup,
		Home:             home(o.Demo),
		Node:             s.nodeName(),
	}, s.native, adminapi.New(s.bus, adminapi.Config{Logger: o.Logger}), gms.New(s.bus, gms.Config{
		OriginAllowed: func(deployment, origin string) bool {
			d, ok := s.engine.Config().Deployment(deployment)
			return ok && d.AllowsOrigin(origin)
		},
		ChatLimiter: lim.perToken,
		Logger:      o.Logger,
		PublicURL:   cfg.PublicOrigin(),
		Stager:      stager(s.stage),
		FileLimit:   s.fileLimit,
	}), s.purecloud(lim))
	s.gateway.SetUploadLimit(func() int { return uploadLimit(s.engine.Config()) })
	s.registerGauges()
	if cfg.MetricsAddr != "" {
		// Last: nothing after it can fail and leave the listener open.
		if s.metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			st.Close()
			return nil, fmt.Errorf("server: metricsAddr: %w", err)
		}
		s.metricsSrv = &http.Server{Handler: s.metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.engine.Run(ctx) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.whileLeading(ctx, s.hooks.Run) }()
	if s.metricsSrv != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.metricsSrv.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Logger.Error("metrics listener stopped", "addr", s.metricsLn.Addr().String(), "err", err)
			}
		}()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.whileLeading(ctx, s.data.Run) }()
	s.startCluster(ctx)
	return s, nil
}

// MetricsAddr is the address /metrics listens on when it has a listener of
// its own (config metricsAddr), or "".
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

func home(demo bool) string {
	if demo {
		return "/demo/"
	}
	return ""
}

func (s *Server) anyOrigin(origin string) bool {
	for _, d := range s.engine.Config().Deployments {
		if d.AllowsOrigin(origin) {
			return true
		}
	}
	return false
}

// ready fails when the store's writer cannot commit within a second (a stuck
// disk, a dead writer) or the bus has stopped fanning events out.
func (s *Server) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("store writer: %w", err)
	}
	if err := s.cluster.ready(); err != nil {
		return err
	}
	if _, err := s.bus.Command(ctx, bus.Caller{Kind: bus.KindGuest}, "WebChatService.verifySession", nil); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	return nil
}

// registerGauges exposes the parts' own counters to Prometheus.
func (s *Server) registerGauges() {
	m := s.metrics
	m.Gauge("cxgate_connections", "Open client connections by transport.", map[string]string{"transport": "websocket"},
		func() float64 { return float64(s.native.Sockets()) })
	m.Gauge("cxgate_connections", "Open client connections by transport.", map[string]string{"transport": "longpoll"},
		func() float64 { return float64(s.native.LongPolls()) })
	m.Gauge("cxgate_bus_subscriptions", "Live event subscriptions (one per connection).", nil,
		func() float64 { return float64(s.bus.Stats().Subscriptions) })
	m.Counter("cxgate_bus_published_total", "Event units published on the bus.",
		func() float64 { return float64(s.bus.Stats().Published) })
	m.Counter("cxgate_bus_dropped_total", "Subscriptions dropped as slow consumers.",
		func() float64 { return float64(s.bus.Stats().Dropped) })
	m.Counter("cxgate_store_commits_total", "Store transactions committed.",
		func() float64 { return float64(s.stats().Commits) })
	m.Counter("cxgate_store_writes_total", "Store writes acknowledged.",
		func() float64 { return float64(s.stats().Writes) })
	for _, state := range []model.OutboxState{model.OutboxPending, model.OutboxDead} {
		m.Gauge("cxgate_webhook_outbox", "Webhook deliveries in the outbox, by state.", map[string]string{"state": string(state)},
			func() float64 {
				pending, dead, _ := s.hooks.Depth(context.Background())
				if state == model.OutboxDead {
					return float64(dead)
				}
				return float64(pending)
			})
	}
	m.Counter("cxgate_webhook_delivered_total", "Webhook requests answered 2xx.",
		func() float64 { return float64(s.hooks.Stats().Delivered) })
	m.Counter("cxgate_webhook_failed_total", "Webhook attempts that failed (each retry counts).",
		func() float64 { return float64(s.hooks.Stats().Failed) })
}

// Config is the configuration in force, defaults applied: the engine's
// snapshot, which admin changes replace.
func (s *Server) Config() config.Config { return *s.engine.Config() }

// Bus is the command bus, for in-process clients such as bots and tests.
func (s *Server) Bus() *bus.Bus { return s.bus }

// Engine is the chat engine.
func (s *Server) Engine() *engine.Engine { return s.engine }

// Store is the bbolt store; nil when the store is PostgreSQL.
func (s *Server) Store() *store.Store { return s.store }

// Gateway is the HTTP surface.
func (s *Server) Gateway() *gateway.App { return s.gateway }

// Webhooks is the webhook delivery service.
func (s *Server) Webhooks() *webhooks.Service { return s.hooks }

// Sockets counts open native sockets.
func (s *Server) Sockets() int { return s.native.Sockets() }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.gateway.Serve(ln) }

// Shutdown stops accepting, ends long-polls and sockets, stops the engine,
// and closes the store last, after its queued writes committed.
func (s *Server) Shutdown(ctx context.Context) error {
	errs := []error{s.gateway.Shutdown(ctx)}
	if s.metricsSrv != nil {
		errs = append(errs, s.metricsSrv.Shutdown(ctx))
	}
	s.cancel()
	s.wg.Wait()
	s.bus.Close()
	s.cluster.close()
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// stager stages uploads' content in the store as it arrives: the wires'
// Stager.
type stager func(ctx context.Context) (native.Staged, error)

func (s stager) Stage(ctx context.Context) (native.Staged, error) { return s(ctx) }

// fileLimit is the largest file deployment d takes now; 0 when it takes
// none (the command then refuses the upload for that).
func (s *Server) fileLimit(d string) int64 {
	p := s.engine.FilePolicy(d)
	if !p.Enabled {
		return 0
	}
	return p.MaxBytes
}
