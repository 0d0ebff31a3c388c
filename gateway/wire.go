package gateway

import (
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/ratelimit"
)

// Wire is a transport of a legacy wire. Its routes live under its own prefix,
// outside /v1, where the gateway gives them request ids, CORS and the rate
// limits of /v1 (budgets of their own); every error under the prefix, those
// raised before a route matched included (body too large, no route, method
// not allowed, rate limited), is written by RenderError in the wire's shape.
type Wire interface {
	Transport
	// Prefix is the root of the wire's routes.
	Prefix() string
	// CORS returns the methods and request headers that preflights allow.
	CORS() (methods, headers string)
	// RateKey returns the key of a request's per-token budget (its token or
	// its chat); "" limits the request per IP only.
	RateKey(c *fiber.Ctx) string
	// RenderError writes rej in the wire's error shape; the gateway has
	// logged it if it is internal.
	RenderError(c *fiber.Ctx, rej *bus.Rejection) error
}

// wire is a mounted Wire and the prefix its errors are rendered under.
type wire struct {
	prefix string
	Wire
}

// owns reports whether path is under the wire's prefix.
func (w wire) owns(path string) bool {
	return path == w.prefix || strings.HasPrefix(path, w.prefix+"/")
}

// guardWire puts request ids, CORS and both rate limits on the routes of w.
func (s *App) guardWire(app *fiber.App, w Wire) {
	methods, headers := w.CORS()
	g := app.Group(w.Prefix())
	g.Use(requestid.New())
	if perToken := s.guard(g, w.Prefix(), cors.Config{AllowMethods: methods, AllowHeaders: headers}, w.RateKey); perToken != nil {
		g.Use(perToken)
	}
	if _, ok := w.(Uploader); ok {
		g.Use(s.uploadSlot)
	}
}

// guard puts on r CORS for the page origins of any deployment, with cc's
// methods and headers, and the per-IP rate limit. It returns the per-token
// rate limit, keyed by key ("" for a request it does not limit), for the
// caller to put on the routes it applies to; nil when it is off. Budgets are
// keyed under prefix: each wire has its own.
func (s *App) guard(r fiber.Router, prefix string, cc cors.Config, key func(*fiber.Ctx) string) fiber.Handler {
	cc.AllowOriginsFunc, cc.MaxAge = s.cfg.AllowOrigin, 600
	r.Use(cors.New(cc))
	if s.cfg.IPLimiter != nil {
		r.Use(limit(s.cfg.IPLimiter, func(c *fiber.Ctx) string { return ratelimit.IPKey(prefix, c.IP()) }))
	}
	if s.cfg.TokenLimiter == nil {
		return nil
	}
	return limit(s.cfg.TokenLimiter, func(c *fiber.Ctx) string {
		if k := key(c); k != "" {
			return ratelimit.TokenKey(prefix, k)
		}
		return ""
	})
}

// limit spends one event of l per request with a key ("" passes), and
// refuses the request with 429 and a Retry-After when the budget is spent.
func limit(l *ratelimit.Limiter, key func(*fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		k := key(c)
		if k == "" {
			return c.Next()
		}
		if ok, retry := l.Allow(k); !ok {
			// The headers describe the limit that refused: the per-IP
			// limit runs around the per-token one and must not speak for it.
			c.Set("X-RateLimit-Limit", strconv.Itoa(l.Max()))
			c.Set("X-RateLimit-Remaining", "0")
			c.Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
			return bus.ErrRateLimited.Retry(retry)
		}
		return c.Next()
	}
}
