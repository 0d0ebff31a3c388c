package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/ratelimit"
	"github.com/cxgate/cxgate/transports/native"
)

// Transport is a wire adapter mounted on the app.
type Transport interface {
	Mount(r fiber.Router)
	// Close ends the transport's connections and waits for them until ctx
	// ends.
	Close(ctx context.Context) error
}

// Config configures the app. Zero values take the defaults noted.
type Config struct {
	BodyLimit int // bytes; 64 KiB
	// UploadLimit is the largest body of POST /v1/files (UploadPath) and of
	// the upload routes of Wires that are Uploaders, the only routes whose
	// bodies may exceed BodyLimit; 0 or less than BodyLimit
	// means BodyLimit. Every other route keeps BodyLimit, refused on the
	// declared length before its body is read.
	UploadLimit  int
	Static       fs.FS             // served at /; nil serves nothing
	AllowOrigin  func(string) bool // CORS: whether any deployment allows a page origin; nil allows none
	RatePerIP    int               // requests per second per client IP on /v1 and on each Wire; 0 = 100, negative = off
	RatePerToken int               // commands per second per bearer token, per Wire's RateKey on a Wire; 0 = 20, negative = off
	// IPLimiter and TokenLimiter, when set, are the budgets of RatePerIP
	// and RatePerToken, shared with what else spends them (sockets): keys
	// are "<prefix>|ip:<ip>" and "<prefix>|tok:<key>", prefix "/v1" or a
	// Wire's Prefix.
	IPLimiter, TokenLimiter *ratelimit.Limiter
	// ConnsPerIP bounds the open connections of one peer address (IPv4);
	// 0 or negative is no bound.
	ConnsPerIP int
	// Uploads bounds the uploads in progress per client IP and in all; nil
	// is no bound.
	Uploads *ratelimit.Slots
	Ready   func() error // readiness; nil is always ready
	// Node is this gateway's name in a cluster, which /healthz gives; "" for
	// a gateway alone.
	Node    string
	Logger  *slog.Logger
	Metrics *Metrics // served at /metrics; nil for none
	// AdminToken guards /v1/admin/debug/pprof and /v1/admin/backup; empty
	// disables both.
	AdminToken string

	// TrustedProxies are the addresses and CIDRs whose X-Forwarded-For,
	// -Host and -Proto are believed; from anyone else they are ignored.
	TrustedProxies []string
	// FrameAncestors may frame the gateway's pages besides the gateway.
	FrameAncestors []string
	// MetricsElsewhere: /metrics is served on a listener of its own
	// (MetricsHandler), and the app answers 404 there.
	MetricsElsewhere bool
	// Loader publishes a deployment's proactive configuration for
	// GET /widgets/loader.js (loader.go): its JSON, given the gateway's
	// public origin, or false for an unknown deployment. nil: no loader.
	Loader func(deployment, gateway string) ([]byte, bool)
	// PublicURL is the gateway's origin as pages reach it
	// ("https://chat.example"); empty: each request's own.
	PublicURL string
	// Backup, if set, serves GET /v1/admin/backup: a consistent copy of the
	// store and its size, streamed as an attachment and then closed.
	Backup func() (io.ReadCloser, int64, error)
	// Home is where GET / redirects (the demo's "/demo/"); empty shows a
	// small page naming the gateway and linking to the console.
	Home string
}

// App is the running HTTP surface.
type App struct {
	app        *fiber.App
	cfg        Config
	csp        string         // Content-Security-Policy of every response
	proxies    trustedProxies // cfg.TrustedProxies, parsed
	transports []Transport
	wires      []wire // the transports that are Wires
	loader     []byte // the static loader script (loader.go)
	// uploadLimitFn is the running upload limit, set by SetUploadLimit.
	uploadLimitFn func() int
}

// ErrRateLimited answers 429; Retry-After tells when to come back.
var ErrRateLimited = bus.ErrRateLimited

// New builds the app with the given transports mounted.
func New(cfg Config, transports ...Transport) *App {
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 64 << 10
	}
	if cfg.RatePerIP == 0 {
		cfg.RatePerIP = 100
	}
	if cfg.RatePerToken == 0 {
		cfg.RatePerToken = 20
	}
	if cfg.IPLimiter == nil {
		cfg.IPLimiter = ratelimit.New(cfg.RatePerIP, time.Second)
	}
	if cfg.TokenLimiter == nil {
		cfg.TokenLimiter = ratelimit.New(cfg.RatePerToken, time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AllowOrigin == nil {
		cfg.AllowOrigin = func(string) bool { return false }
	}
	s := &App{cfg: cfg, transports: transports, csp: cspFor(cfg.FrameAncestors),
		proxies: parseTrustedProxies(cfg.TrustedProxies), loader: readLoader(cfg.Static)}
	for _, t := range transports {
		if w, ok := t.(Wire); ok {
			s.wires = append(s.wires, wire{prefix: w.Prefix(), Wire: w})
		}
	}
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           15 * time.Second,
		// Multipart bodies are parsed by the routes that take them, from
		// memory, never spooled to disk by fasthttp.
		DisablePreParseMultipartForm: true,
		// No body is read before its route's handler asks for it: uploads
		// are read after their token and limits were checked, as a stream,
		// so a declared length reserves nothing. bodyGate reads the other
		// routes' bodies, up to BodyLimit, before they run.
		StreamRequestBody: true,
		IdleTimeout:       90 * time.Second,
		ErrorHandler:      s.renderError,
		// Forwarded headers (c.IP, c.Hostname, c.Protocol) are believed
		// from the trusted proxies only; with none, from nobody.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.TrustedProxies,
		ProxyHeader:             fiber.HeaderXForwardedFor,
		EnableIPValidation:      true,
	})
	s.routes()
	return s
}

// App exposes the fiber app, for in-process tests.
func (s *App) App() *fiber.App { return s.app }

func (s *App) routes() {
	app := s.app
	app.Use(recover.New())
	app.Use(s.securityHeaders)
	if len(s.proxies) > 0 {
		app.Use(s.forwardedFor)
	}
	app.Use(s.bodyGate)
	app.Server().HeaderReceived = s.requestConfig
	if s.cfg.Metrics != nil {
		app.Use(s.cfg.Metrics.middleware)
		if !s.cfg.MetricsElsewhere {
			app.Get("/metrics", s.cfg.Metrics.handler())
		}
	}
	health := fiber.Map{"status": "ok"}
	if s.cfg.Node != "" {
		health["node"] = s.cfg.Node
	}
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(health) })
	app.Get("/readyz", s.readyz)
	if s.cfg.AdminToken != "" {
		app.Use("/v1/admin/debug", s.requireAdmin)
		app.Use(pprof.New(pprof.Config{Prefix: "/v1/admin"}))
	}

	api := app.Group("/v1")
	api.Use(requestid.New())
	perToken := s.guard(api, "/v1", cors.Config{
		AllowMethods:  "GET,POST,PUT,DELETE,OPTIONS",
		AllowHeaders:  "Authorization,Content-Type",
		ExposeHeaders: "Content-Disposition",
	}, func(c *fiber.Ctx) string { return c.Get(fiber.HeaderAuthorization) })
	if perToken != nil {
		// One budget per token for commands and file transfers together.
		api.Use("/command", perToken)
		api.Use("/files", perToken)
	}
	if s.cfg.AdminToken != "" && s.cfg.Backup != nil {
		api.Get("/admin/backup", s.requireAdmin, s.backup)
	}
	api.Use("/files", s.uploadSlot)
	for _, t := range s.transports {
		if w, ok := t.(Wire); ok {
			s.guardWire(app, w)
		}
		t.Mount(app)
	}
	if s.cfg.Loader != nil {
		app.Get(LoaderPath, s.handleLoader)
	}
	app.Get("/", s.home)
	if s.cfg.Static != nil {
		app.Use(s.slashless)
		app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(s.cfg.Static), Index: "index.html", MaxAge: 60}))
	}
}

// requireAdmin lets through only requests bearing the admin token.
func (s *App) requireAdmin(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
		return bus.ErrUnauthorized
	}
	return c.Next()
}

// backup streams a copy of the store as an attachment named after the
// time it was taken.
func (s *App) backup(c *fiber.Ctx) error {
	r, size, err := s.cfg.Backup()
	if err != nil {
		return err
	}
	name := "cxgate-" + time.Now().UTC().Format("20060102T150405Z") + ".db"
	c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// fasthttp closes r once it has sent size bytes, or the connection died.
	return c.SendStream(r, int(size))
}

func (s *App) readyz(c *fiber.Ctx) error {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "error": err.Error()})
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// renderError writes every error in the wire's envelope with its status.
func (s *App) renderError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	// A command's rejection is counted by the bus observer; what the
	// gateway refused itself is counted here.
	gatewayMade := errors.As(err, &fe) || errors.Is(err, ErrRateLimited)
	if errors.As(err, &fe) {
		switch fe.Code {
		case http.StatusRequestEntityTooLarge:
			err = bus.Reject(fe.Code, bus.CodeTooLarge, "The request body is larger than the limit.")
			if s.isUpload(c.Path()) {
				err = bus.Reject(fe.Code, "file_too_large", "The file is larger than the upload limit.")
			}
		case http.StatusNotFound:
			err = bus.Reject(fe.Code, bus.CodeNotFound, "No such endpoint.")
		case http.StatusMethodNotAllowed:
			err = bus.Reject(fe.Code, bus.CodeInvalidRequest, "Method not allowed.")
		case http.StatusUpgradeRequired:
			err = bus.Reject(fe.Code, bus.CodeInvalidRequest, "This endpoint needs a WebSocket upgrade.")
		default:
			err = bus.Reject(fe.Code, bus.CodeInvalidRequest, fe.Message)
		}
	}
	rej := bus.AsRejection(err)
	if n := rej.RetrySeconds(); n > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(n))
	}
	if gatewayMade && s.cfg.Metrics != nil {
		s.cfg.Metrics.ObserveRejection(rej.Code)
	}
	if rej.Code == bus.CodeInternal {
		s.cfg.Logger.Error("request failed", "path", c.Path(), "id", c.GetRespHeader(fiber.HeaderXRequestID), "err", err)
	}
	for _, w := range s.wires {
		if w.owns(c.Path()) {
			return w.RenderError(c, rej)
		}
	}
	if !strings.HasPrefix(c.Path(), "/v1/") && rej.Status == http.StatusNotFound {
		return c.Status(http.StatusNotFound).SendString("Not Found")
	}
	return native.Reply(c, rej)
}

// Serve accepts connections on ln until Shutdown.
func (s *App) Serve(ln net.Listener) error {
	return s.app.Listener(limitConnsPerIP(ln, s.cfg.ConnsPerIP))
}

// Shutdown stops accepting, ends long-polls and sockets (fasthttp neither
// waits for nor closes hijacked connections), and waits for in-flight requests
// until ctx ends.
func (s *App) Shutdown(ctx context.Context) error {
	closed := make(chan error, len(s.transports))
	for _, t := range s.transports {
		go func() { closed <- t.Close(ctx) }()
	}
	errs := []error{s.app.ShutdownWithContext(ctx)}
	for range s.transports {
		errs = append(errs, <-closed)
	}
	return errors.Join(errs...)
}
