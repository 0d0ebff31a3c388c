package gateway

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// homePage is what GET / shows when it does not redirect: the gateway's
// name and the way to the console. No script and no inline style, so that
// it lives under the strictest Content-Security-Policy.
const homePage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cxgate</title>
</head>
<body>
<h1>cxgate</h1>
<p>This is a cxgate web chat gateway.</p>
<ul>
<li><a href="/agent/">Agent console</a></li>
<li><a href="/healthz">Health</a></li>
</ul>
</body>
</html>
`

// home answers GET /: a redirect to Config.Home when set, else homePage.
func (s *App) home(c *fiber.Ctx) error {
	if s.cfg.Home != "" {
		return c.Redirect(s.cfg.Home, http.StatusFound)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.SendString(homePage)
}

// slashless redirects a path naming a directory of the static tree without
// its trailing slash (/agent, /demo/async) to the path with it: served
// without it, the page's relative CSS and script links would miss.
func (s *App) slashless(c *fiber.Ctx) error {
	p := c.Path()
	if (c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead) || p == "/" || strings.HasSuffix(p, "/") {
		return c.Next()
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if !fs.ValidPath(name) {
		return c.Next()
	}
	if st, err := fs.Stat(s.cfg.Static, name); err != nil || !st.IsDir() {
		return c.Next()
	}
	to := "/" + name + "/"
	if q := c.Request().URI().QueryString(); len(q) > 0 {
		to += "?" + string(q)
	}
	return c.Redirect(to, http.StatusMovedPermanently)
}
