package httpauth

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Bearer returns the token of an "Authorization: Bearer <token>" header, or
// "" without one.
func Bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// PageOrigin returns the Origin of a browser request, or "" for a request
// without one and for the gateway's own pages, which every deployment
// allows.
func PageOrigin(c *fiber.Ctx, publicURL string) string {
	origin := c.Get(fiber.HeaderOrigin)
	if IsOwnOrigin(c, origin, publicURL) {
		return ""
	}
	return origin
}

// IsOwnOrigin reports whether origin is the gateway's own: publicURL's when
// it is set, else the request's scheme and host. Those come from Host and
// the TLS state, and from X-Forwarded-Host and X-Forwarded-Proto only when
// the request came through a trusted proxy (the app's trusted-proxy check).
func IsOwnOrigin(c *fiber.Ctx, origin, publicURL string) bool {
	if origin == "" {
		return false
	}
	if publicURL != "" {
		return strings.EqualFold(origin, strings.TrimSuffix(publicURL, "/"))
	}
	return strings.EqualFold(origin, c.BaseURL())
}
