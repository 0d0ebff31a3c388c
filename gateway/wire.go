package gateway

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/cxgate/cxgate/bus"
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
func (s *Server) guardWire(app *fiber.App, w Wire) {
	methods, headers := w.CORS()
	g := app.Group(w.Prefix())
	g.Use(requestid.New())
	if perToken := s.guard(g, cors.Config{AllowMethods: methods, AllowHeaders: headers}, w.RateKey); perToken != nil {
		g.Use(perToken)
	}
}

// guard puts on r CORS for the page origins of any deployment, with cc's
// methods and headers, and the per-IP rate limit. It returns the per-token
// rate limit, keyed by key ("" for a request it does not limit), for the
// caller to put on the routes it applies to; nil when it is off.
func (s *Server) guard(r fiber.Router, cc cors.Config, key func(*fiber.Ctx) string) fiber.Handler {
	cc.AllowOriginsFunc, cc.MaxAge = s.cfg.AllowOrigin, 600
	r.Use(cors.New(cc))
	if s.cfg.RatePerIP > 0 {
		r.Use(describeRefusal(limiter.New(limiter.Config{
			Max: s.cfg.RatePerIP, Expiration: time.Second,
			KeyGenerator: func(c *fiber.Ctx) string { return "ip:" + c.IP() },
			LimitReached: limitReached(s.cfg.RatePerIP),
		})))
	}
	if s.cfg.RatePerToken <= 0 {
		return nil
	}
	return describeRefusal(limiter.New(limiter.Config{
		Max: s.cfg.RatePerToken, Expiration: time.Second,
		Next:         func(c *fiber.Ctx) bool { return key(c) == "" },
		KeyGenerator: func(c *fiber.Ctx) string { return "tok:" + key(c) },
		LimitReached: limitReached(s.cfg.RatePerToken),
	}))
}
