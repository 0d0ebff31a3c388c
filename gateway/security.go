package gateway

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// contentSecurityPolicy is the policy of every response: script from the
// gateway itself only (no inline script, no eval), styles likewise (the chat
// window's styles are a constructed stylesheet, which CSP does not govern),
// and no plugins. frame-ancestors is appended per configuration.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

// securityHeaders sets the headers every response carries, before the
// handler runs so that a route may still replace them (a file download's
// stricter policy). Scripts under /widgets/ are meant to be loaded by
// other sites' pages: they also say so to CORS and CORP.
func (s *App) securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", s.csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "strict-origin-when-cross-origin")
	if strings.HasPrefix(c.Path(), "/widgets/") {
		c.Set("Cross-Origin-Resource-Policy", "cross-origin")
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	}
	return c.Next()
}

// cspFor is the policy with the configured frame ancestors (validated by
// the config package as origins without spaces or separators).
func cspFor(frameAncestors []string) string {
	csp := contentSecurityPolicy
	for _, a := range frameAncestors {
		csp += " " + a
	}
	return csp
}

// trustedProxies are the proxies whose forwarded headers are believed.
type trustedProxies []netip.Prefix

func parseTrustedProxies(list []string) trustedProxies {
	var t trustedProxies
	for _, p := range list {
		if a, err := netip.ParseAddr(p); err == nil {
			t = append(t, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else if pf, err := netip.ParsePrefix(p); err == nil {
			t = append(t, pf.Masked())
		}
	}
	return t
}

func (t trustedProxies) contains(ip string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor leaves in X-Forwarded-For, for fiber's c.IP(), the one
// address the trusted proxies vouch for: the right-most one that is not a
// trusted proxy itself. Entries left of it were written by the client and
// prove nothing (a proxy that appends keeps what the client sent), so
// taking the left-most, as fiber would, lets a visitor pick its own IP and
// escape the per-IP limits. fiber reads the header only from trusted peers.
func (s *App) forwardedFor(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderXForwardedFor)
	if h == "" || !c.IsProxyTrusted() {
		return c.Next()
	}
	hops := strings.Split(h, ",")
	client := ""
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if net.ParseIP(hop) == nil {
			break // garbage: stop at the last address a proxy could have written
		}
		client = hop
		if !s.proxies.contains(hop) {
			break
		}
	}
	if client == "" {
		c.Request().Header.Del(fiber.HeaderXForwardedFor) // c.IP() falls back to the peer
	} else {
		c.Request().Header.Set(fiber.HeaderXForwardedFor, client)
	}
	return c.Next()
}
