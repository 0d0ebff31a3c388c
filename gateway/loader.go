package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// LoaderPath is the one script tag a site needs for proactive engagement:
// GET /widgets/loader.js?deployment=K.
const LoaderPath = "/widgets/loader.js"

// loaderScript is the static file served after the deployment's
// configuration: it reads window._cxgate.proactive.
const loaderScript = "widgets/loader.js"

// loaderMaxAge is how long browsers and caches may keep a loader: a change
// of the configuration reaches pages within it.
const loaderMaxAge = "public, max-age=60"

// handleLoader serves a deployment's loader: the configuration Config.Loader
// publishes for it, then the static loader script. It is cacheable for a
// minute with an ETag on the whole body, so a revalidation answers 304 until
// the configuration changes. An unknown deployment is a 404 whose body is a
// JavaScript comment: the page's script tag then runs nothing.
func (s *App) handleLoader(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/javascript; charset=utf-8")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	key := c.Query("deployment")
	if key == "" {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(http.StatusBadRequest).SendString("/* cxgate: loader.js needs ?deployment=<key> */\n")
	}
	conf, ok := s.cfg.Loader(key, s.publicOrigin(c))
	if !ok {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(http.StatusNotFound).SendString("/* cxgate: no such deployment */\n")
	}
	body := make([]byte, 0, len(loaderHead)+len(conf)+2+len(s.loader))
	body = append(append(append(append(body, loaderHead...), conf...), ";\n"...), s.loader...)
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	c.Set(fiber.HeaderCacheControl, loaderMaxAge)
	c.Set(fiber.HeaderETag, etag)
	if s.cfg.PublicURL == "" {
		// The body names the gateway as this request reached it: a shared
		// cache must not serve one client's variant to another.
		c.Set(fiber.HeaderVary, "Host, X-Forwarded-Host, X-Forwarded-Proto")
	}
	if etagMatch(c.Get(fiber.HeaderIfNoneMatch), etag) {
		return c.SendStatus(http.StatusNotModified)
	}
	return c.Send(body)
}

const loaderHead = "window._cxgate = window._cxgate || {};\nwindow._cxgate.proactive = "

// etagMatch reports whether an If-None-Match header names etag (weakly, as
// RFC 9110 compares for GET).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// publicOrigin is the gateway's origin as pages must reach it: PublicURL
// when configured, else the request's own.
func (s *App) publicOrigin(c *fiber.Ctx) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	return c.BaseURL()
}

// readLoader reads the static loader script, or nil when there is none.
func readLoader(static fs.FS) []byte {
	if static == nil {
		return nil
	}
	b, err := fs.ReadFile(static, loaderScript)
	if err != nil {
		return nil
	}
	return b
}
