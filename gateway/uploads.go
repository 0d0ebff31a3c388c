package gateway

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
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
func (s *Server) isUpload(path string) bool {
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
// are read, it raises the body limit and read timeout of uploads alone.
// Every other request keeps the app's BodyLimit, enforced by fasthttp on the
// declared length before any of the body is read.
func (s *Server) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	return s.uploadConfig(h, func() int { return s.cfg.UploadLimit })
}

// SetUploadLimit makes the body limit of uploads follow limit, asked anew
// for each upload once its headers are read, in place of the fixed
// Config.UploadLimit: a limit raised at run time serves the next upload. A
// limit not above BodyLimit means BodyLimit. Call it before Serve.
func (s *Server) SetUploadLimit(limit func() int) {
	s.app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		return s.uploadConfig(h, limit)
	}
}

// uploadConfig raises the body limit to limit() and the read timeout when h
// is an upload's; other requests keep the server's settings.
func (s *Server) uploadConfig(h *fasthttp.RequestHeader, limit func() int) fasthttp.RequestConfig {
	path, _, _ := bytes.Cut(h.RequestURI(), []byte("?"))
	if !h.IsPost() || !s.isUpload(string(path)) {
		return fasthttp.RequestConfig{}
	}
	rc := fasthttp.RequestConfig{ReadTimeout: uploadReadTimeout}
	if n := limit(); n > s.cfg.BodyLimit {
		rc.MaxRequestBodySize = n
	}
	return rc
}
