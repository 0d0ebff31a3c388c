package native

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/ratelimit"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/httpauth"
	"github.com/cxgate/cxgate/transports/internal/wssession"
)

// Config tunes the transport. Zero fields take the defaults noted.
type Config struct {
	// OriginAllowed reports whether a browser page of origin may speak for
	// deployment. Required.
	OriginAllowed func(deployment, origin string) bool
	// AnyOriginAllowed reports whether some deployment allows origin: the
	// check before a socket upgrade, when the deployment is not known yet.
	AnyOriginAllowed func(origin string) bool
	FrameBytes       int           // largest socket frame; 64 KiB
	LongPollMax      time.Duration // longest long-poll wait; 60 s
	Heartbeat        time.Duration // socket ping interval; 25 s
	AuthTimeout      time.Duration // time to send the auth frame; 10 s
	CommandTimeout   time.Duration // one command; 15 s
	SocketQueue      int           // events queued per visitor socket; 16
	AgentSocketQueue int           // events queued per agent socket; 1024
	FeedPage         int           // stored events read per feed call; 100
	// IPLimiter and TokenLimiter are the budgets of /v1's HTTP requests
	// (limits.ratePerIP, limits.ratePerToken): each command frame of a
	// socket spends one of its IP's and one of its token's. nil: no budget.
	IPLimiter, TokenLimiter *ratelimit.Limiter
	// ChatSockets bounds the sockets open per chat (limits.socketsPerChat),
	// shared with the guest chat stream; nil: no bound.
	ChatSockets *ratelimit.Slots
	Logger      *slog.Logger

	// PublicURL is the gateway's public origin (config publicURL): when
	// set, the origin of the gateway's own pages is this one, not one taken
	// from the request's Host or X-Forwarded-* headers.
	PublicURL string

	// Stager, when set, takes the content of uploads as it arrives (the
	// store's staged files): an upload then holds a few chunks in memory,
	// not its file. nil: uploads are read into memory.
	Stager Stager
	// FileLimit is the largest file a deployment takes (files.maxBytes; 0
	// when it takes none): a streamed upload's content is deleted as soon
	// as it is past it. nil: uploads are bounded by the gateway alone until
	// the command refuses them.
	FileLimit func(deployment string) int64
}

func (c *Config) defaults() {
	if c.FrameBytes == 0 {
		c.FrameBytes = 64 << 10
	}
	if c.LongPollMax == 0 {
		c.LongPollMax = 60 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 25 * time.Second
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 15 * time.Second
	}
	if c.SocketQueue == 0 {
		c.SocketQueue = 16
	}
	if c.AgentSocketQueue == 0 {
		c.AgentSocketQueue = 1024
	}
	if c.FeedPage == 0 {
		c.FeedPage = 100
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.AnyOriginAllowed == nil {
		c.AnyOriginAllowed = func(string) bool { return true }
	}
}

// Transport serves the native wire.
type Transport struct {
	longPolls atomic.Int64 // long-polls in flight, for metrics
	bus       *bus.Bus
	cfg       Config
	parsers   fastjson.ParserPool

	// hub owns the sockets: their count, pings and shutdown. Its Quit is
	// closed by Close: long-polls answer, sockets close.
	hub *wssession.Hub
}

// New returns the native transport over b.
func New(b *bus.Bus, cfg Config) *Transport {
	cfg.defaults()
	return &Transport{bus: b, cfg: cfg, hub: wssession.NewHub(wssession.Config{
		Heartbeat: cfg.Heartbeat,
		SlowText:  "slow consumer: resume from your last seq",
	})}
}

// Mount adds the routes to r.
func (t *Transport) Mount(r fiber.Router) {
	r.Post("/v1/command", t.handleCommand)
	r.Get("/v1/events", t.handleEvents)
	r.Get("/v1/availability", t.handleAvailability)
	r.Post("/v1/files", t.handleUpload)
	r.Get("/v1/files/:id", t.handleDownload)
	r.Use("/v1/ws", t.requireUpgrade)
	r.Get("/v1/ws", websocket.New(t.serveSocket, websocket.Config{
		Origins: []string{"*"}, // checked in requireUpgrade and again per deployment after auth
		// An idle socket holds its read buffer for life: 1 KiB, as the
		// guest chat stream's, holds a command frame whole; a larger frame
		// is read past it straight into the frame.
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		// Idle sockets hold no write buffer: it is taken from the pool for
		// each message.
		WriteBufferPool: &sync.Pool{},
	}))
}

// Sockets counts open sockets.
func (t *Transport) Sockets() int { return t.hub.Sockets() }

// Close makes long-polls answer at once and closes every socket with 1001,
// then waits for their goroutines until ctx ends.
func (t *Transport) Close(ctx context.Context) error { return t.hub.Close(ctx) }

// Reply writes a rejection in the wire's envelope with its HTTP status; the
// gateway's error handler uses it for every error of the API routes.
func Reply(c *fiber.Ctx, err error) error {
	rej := bus.AsRejection(err)
	status := rej.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(appendReply(nil, nil, nil, rej))
}

// ErrOriginNotAllowed rejects a browser page whose origin the deployment does
// not list.
var ErrOriginNotAllowed = bus.Reject(http.StatusForbidden, contract.CodeOriginNotAllowed, "This page's origin is not allowed for the deployment.")

func bearer(c *fiber.Ctx) string { return httpauth.Bearer(c) }

// caller authenticates an HTTP request. Without a token the caller is a guest
// of the given deployment.
func (t *Transport) caller(ctx context.Context, c *fiber.Ctx, deployment string) (bus.Caller, error) {
	var caller bus.Caller
	if tok := bearer(c); tok != "" {
		var err error
		caller, err = t.bus.Authenticate(ctx, tok)
		if err != nil {
			return caller, err
		}
	} else {
		caller = bus.Caller{Kind: bus.KindGuest, Deployment: deployment}
	}
	caller.Remote = c.IP()
	if err := t.checkOrigin(caller, httpauth.PageOrigin(c, t.cfg.PublicURL)); err != nil {
		return caller, err
	}
	return caller, nil
}

func (t *Transport) checkOrigin(caller bus.Caller, origin string) error {
	if origin == "" {
		return nil
	}
	switch caller.Kind {
	case bus.KindVisitor, bus.KindGuest:
		if !t.cfg.OriginAllowed(caller.Deployment, origin) {
			return ErrOriginNotAllowed
		}
	}
	return nil
}

func (t *Transport) handleCommand(c *fiber.Ctx) error {
	p := t.parsers.Get()
	cmd, err := decodeCommand(p, c.Body())
	t.parsers.Put(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(withRequestID(c.UserContext(), c.GetRespHeader(fiber.HeaderXRequestID)), t.cfg.CommandTimeout)
	defer cancel()
	caller, err := t.caller(ctx, c, cmd.Deployment)
	if err != nil {
		return err
	}
	data, err := t.run(ctx, caller, cmd)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(appendReply(nil, nil, data, nil))
}

// run runs one command and encodes its result.
// requestIDKey carries the id that ties a command's log lines to its
// request: the HTTP request id, or the socket frame's id.
type requestIDKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func (t *Transport) run(ctx context.Context, caller bus.Caller, cmd Command) ([]byte, error) {
	res, err := t.bus.Command(ctx, caller, cmd.Name, cmd.Options)
	if err != nil {
		rej := bus.AsRejection(err)
		if rej.Code == bus.CodeInternal {
			t.cfg.Logger.Error("command failed", "request", requestID(ctx), "command", cmd.Name,
				"caller", caller.Kind.String(), "err", err)
		}
		return nil, rej
	}
	return bus.EncodeResult(res)
}

// handleEvents is the long-poll: the caller's events after seq, at once if
// there are some, else whatever arrives before the wait ends.
// LongPolls counts long-polls waiting now.
func (t *Transport) LongPolls() int { return int(t.longPolls.Load()) }

// parseWait reads a long-poll's wait in seconds, clamped to max. The
// comparison is made on the float before any conversion: a wait too large
// for a time.Duration (1e10, Inf) would otherwise overflow into a negative
// one and answer at once.
func parseWait(s string, max time.Duration) (time.Duration, error) {
	sec, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(sec) || sec < 0 {
		return 0, badFrame(`"wait" must be a number of seconds`)
	}
	if sec >= max.Seconds() {
		return max, nil
	}
	return time.Duration(sec * float64(time.Second)), nil
}

func (t *Transport) handleEvents(c *fiber.Ctx) error {
	t.longPolls.Add(1)
	defer t.longPolls.Add(-1)
	after, err := strconv.ParseUint(c.Query("after", "0"), 10, 64)
	if err != nil {
		return badFrame(`"after" must be a seq: a whole number`)
	}
	wait, err := parseWait(c.Query("wait", "25"), t.cfg.LongPollMax)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	caller, err := t.caller(ctx, c, "")
	if err != nil {
		return err
	}
	if caller.Topic() == "" {
		return bus.ErrForbidden
	}
	sub := t.bus.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: caller.Topic()})
	defer sub.Close()
	units, err := t.bus.Feed(ctx, caller, after, t.cfg.FeedPage)
	if err != nil {
		return err
	}
	if len(units) == 0 && wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
	waiting:
		for {
			select {
			case ev, ok := <-sub.Events():
				if !ok || ev.Seq > after {
					// Read the feed: it has this event and anything before it.
					units, err = t.bus.Feed(ctx, caller, after, t.cfg.FeedPage)
					if err != nil {
						return err
					}
					if len(units) > 0 || !ok {
						break waiting
					}
				} else if ev.Seq == 0 {
					units = append(units, ev)
					break waiting
				}
			case <-timer.C:
				break waiting
			case <-t.hub.Quit():
				break waiting
			case <-ctx.Done():
				break waiting
			}
		}
	}
	buf := append(make([]byte, 0, 512), `{"events":[`...)
	buf = appendUnits(buf, units)
	buf = append(buf, "]}"...)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(buf)
}

func (t *Transport) requireUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	origin := httpauth.PageOrigin(c, t.cfg.PublicURL) // "" for the gateway's own pages
	if origin != "" && !t.cfg.AnyOriginAllowed(origin) {
		return ErrOriginNotAllowed
	}
	select {
	case <-t.hub.Quit():
		return bus.ErrUnavailable
	default:
	}
	// websocket.Conn reads locals by string key only.
	c.Locals(localOrigin, origin)
	c.Locals(localRemote, c.IP())
	return c.Next()
}

const (
	localOrigin = "cxgate.native.origin"
	localRemote = "cxgate.native.remote"
)

// APIPrefix is the root of the native routes, under which their rate
// budgets are keyed.
const APIPrefix = "/v1"

// TokenRateKey is the per-token budget key of a socket authenticated with
// token: that of an HTTP request bearing it.
func TokenRateKey(token string) string { return ratelimit.TokenKey(APIPrefix, "Bearer "+token) }

// allow spends one command of s's IP and token budgets, or refuses the
// command with 429 and the time to retry.
func (t *Transport) allow(s *session) error {
	if ok, retry := t.cfg.IPLimiter.Allow(ratelimit.IPKey(APIPrefix, s.caller.Remote)); !ok {
		return bus.ErrRateLimited.Retry(retry)
	}
	if ok, retry := t.cfg.TokenLimiter.Allow(s.tokenKey); !ok {
		return bus.ErrRateLimited.Retry(retry)
	}
	return nil
}
