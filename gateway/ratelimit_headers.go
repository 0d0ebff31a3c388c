package gateway

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// The per-IP limiter runs around the per-token one and writes its
// X-RateLimit-* headers when the request comes back through it, also when
// the per-token limit refused the request: a 429 would then describe the
// limit that let it through. Each limit records its refusal, and the headers
// of the limit that refused are written last.

const localRefusal = "cxgate.gateway.rateRefusal"

// refusal is the limit that refused a request.
type refusal struct {
	limit int
	reset string // seconds, as Retry-After
}

// limitReached refuses a request over a limit of max per second, recording
// which limit refused it.
func limitReached(max int) func(*fiber.Ctx) error {
	return func(c *fiber.Ctx) error {
		r := refusal{limit: max, reset: c.GetRespHeader(fiber.HeaderRetryAfter)}
		c.Locals(localRefusal, r)
		r.describe(c)
		return ErrRateLimited
	}
}

// describeRefusal runs the limiter h and, if a limit refused the request,
// leaves that limit's headers on the answer.
func describeRefusal(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		if r, ok := c.Locals(localRefusal).(refusal); ok {
			r.describe(c)
		}
		return err
	}
}

func (r refusal) describe(c *fiber.Ctx) {
	c.Set("X-RateLimit-Limit", strconv.Itoa(r.limit))
	c.Set("X-RateLimit-Remaining", "0")
	if r.reset != "" {
		c.Set("X-RateLimit-Reset", r.reset)
	}
}
