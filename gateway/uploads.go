package gateway

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/cxgate/cxgate/bus"
)

// UploadPath is the route of file uploads: POST bodies up to
// Config.UploadLimit.
const UploadPath = "/v1/files"

// Uploader is a Wire with upload routes of its own, whose POST bodies may be
// as large as those of UploadPath.
type Uploader interface {
	// IsUpload reports whether path, under the wire's prefix, is an upload
	// route.
	IsUpload(path string) bool
}

// isUpload reports whether path is an upload route: UploadPath or one of a
// Wire's.
func (s *App) isUpload(path string) bool {
	if path == UploadPath {
		return true
	}
	for _, w := range s.wires {
		if u, ok := w.Wire.(Uploader); ok && w.owns(path) && u.IsUpload(path) {
			return true
		}
	}
	return false
}

// uploadReadTimeout is the time to read an upload's body: a large file on a
// slow uplink takes longer than other requests may.
const uploadReadTimeout = 60 * time.Second

// requestConfig is fasthttp's HeaderReceived hook: once a request's headers
// are read, it raises the read timeout of uploads alone.
func (s *App) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	path, _, _ := bytes.Cut(h.RequestURI(), []byte("?"))
	if !h.IsPost() || !s.isUpload(string(path)) {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{ReadTimeout: uploadReadTimeout}
}

// SetUploadLimit makes the body limit of uploads follow limit, asked anew
// for each upload once its headers are read, in place of the fixed
// Config.UploadLimit: a limit raised at run time serves the next upload. A
// limit not above BodyLimit means BodyLimit. Call it before Serve.
func (s *App) SetUploadLimit(limit func() int) { s.uploadLimitFn = limit }

// uploadLimit is the largest upload body now.
func (s *App) uploadLimit() int {
	n := s.cfg.UploadLimit
	if s.uploadLimitFn != nil {
		n = s.uploadLimitFn()
	}
	return max(n, s.cfg.BodyLimit)
}

// drainLimit bounds what of an upload's unread body is read and dropped
// so that its client gets the answer, and drainWait how long it waits.
const (
	drainLimit = 256 << 10
	drainWait  = 100 * time.Millisecond
)

var (
	errLengthRequired = bus.Reject(http.StatusLengthRequired, bus.CodeInvalidRequest,
		"An upload needs a Content-Length.")
	errBodyTooLarge = fiber.ErrRequestEntityTooLarge
)

// bodyGate runs first on every request. The server streams bodies (nothing
// is read before a handler asks), so it decides what may be read:
//   - an upload is refused on its declared length when that is over the
//     upload limit, or when it declares none (chunked); otherwise its body
//     stays on the wire for the route to read as a stream once the token
//     and the limits passed. Its connection closes after the answer, as the
//     route may leave some of the body unread.
//   - any other body is refused on its declared length over BodyLimit, and
//     read whole here, up to BodyLimit, before the route runs: as without
//     streaming.
func (s *App) bodyGate(c *fiber.Ctx) error {
	req := c.Request()
	cl := req.Header.ContentLength()
	if req.Header.IsPost() && s.isUpload(c.Path()) {
		c.Context().SetConnectionClose()
		switch {
		case cl == -1:
			return errLengthRequired
		case cl > s.uploadLimit():
			return errBodyTooLarge
		}
		err := c.Next()
		// What the route left unread (a refused upload: a bad key, a
		// limit) is read and dropped, up to drainLimit, before the answer:
		// a client still sending it then reads the answer rather than a
		// connection reset, as net/http's servers do.
		// A client that is not sending (it holds an upload slot with its
		// headers alone) is given drainWait, not more.
		if r := c.Context().RequestBodyStream(); r != nil {
			if conn := c.Context().Conn(); conn != nil {
				_ = conn.SetReadDeadline(time.Now().Add(drainWait))
			}
			_, _ = io.CopyN(io.Discard, r, drainLimit)
		}
		return err
	}
	if cl > s.cfg.BodyLimit {
		c.Context().SetConnectionClose()
		return errBodyTooLarge
	}
	if r := c.Context().RequestBodyStream(); r != nil && cl == -1 {
		body, err := io.ReadAll(io.LimitReader(r, int64(s.cfg.BodyLimit)+1))
		if err != nil || len(body) > s.cfg.BodyLimit {
			c.Context().SetConnectionClose()
			if err != nil {
				return bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "The request body could not be read.").Wrap(err)
			}
			return errBodyTooLarge
		}
		req.SetBody(body)
		return c.Next()
	}
	_ = req.Body() // the rest of a declared length within BodyLimit
	return c.Next()
}

// uploadSlot holds one of the client IP's upload slots while an upload runs:
// past Config.Uploads' bounds (per IP, in all) the upload is refused with
// 429 before its body is read.
func (s *App) uploadSlot(c *fiber.Ctx) error {
	if s.cfg.Uploads == nil || c.Method() != fiber.MethodPost || !s.isUpload(c.Path()) {
		return c.Next()
	}
	release, ok := s.cfg.Uploads.Acquire(c.IP())
	if !ok {
		return bus.ErrRateLimited.Retry(time.Second)
	}
	defer release()
	return c.Next()
}
