package gateway

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// UploadPath is the route of file uploads: POST bodies up to
// Config.UploadLimit.
const UploadPath = "/v1/files"

// uploadReadTimeout is the time to read an upload's body: a large file on a
// slow uplink takes longer than other requests may.
const uploadReadTimeout = 60 * time.Second

// requestConfig is fasthttp's HeaderReceived hook: once a request's headers
// are read, it raises the body limit and read timeout of uploads alone.
// Every other request keeps the app's BodyLimit, enforced by fasthttp on the
// declared length before any of the body is read.
func (s *Server) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	path, _, _ := bytes.Cut(h.RequestURI(), []byte("?"))
	if h.IsPost() && string(path) == UploadPath {
		return fasthttp.RequestConfig{MaxRequestBodySize: s.cfg.UploadLimit, ReadTimeout: uploadReadTimeout}
	}
	return fasthttp.RequestConfig{}
}
