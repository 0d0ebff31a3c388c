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
func PageOrigin(c *fiber.Ctx) string {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == c.BaseURL() {
		return ""
	}
	return origin
}
