package bus

import (
	"errors"
	"net/http"
	"time"
)

// Rejection is a command outcome the client sees. Codes are append-only: the
// browser bus and custom UIs switch on them. Message is the human text, for
// WebChatService the exact text of the Genesys reference.
type Rejection struct {
	Code    string // "no_active_session"
	Message string // "There is no active chat session."
	Status  int    // HTTP class: 400, 401, 403, 404, 409, 413, 429, 501, 503
	Err     error  // cause: logged, never sent
	// RetryAfter is when a refused client may try again (a rate limit):
	// the Retry-After header over HTTP, "retryAfter" (seconds) in a socket
	// reply. Zero for none.
	RetryAfter time.Duration
}

var _ error = (*Rejection)(nil)

func (r *Rejection) Error() string {
	if r.Err != nil {
		return r.Code + ": " + r.Message + ": " + r.Err.Error()
	}
	return r.Code + ": " + r.Message
}

func (r *Rejection) Unwrap() error { return r.Err }

// Is makes errors.Is match rejections by code, so a sentinel Rejection can be
// compared with one that carries a different cause.
func (r *Rejection) Is(target error) bool {
	var t *Rejection
	if errors.As(target, &t) {
		return t.Code == r.Code
	}
	return false
}

// Reject builds a rejection.
func Reject(status int, code, message string) *Rejection {
	return &Rejection{Code: code, Message: message, Status: status}
}

// Wrap returns a copy of r that records cause, for the logs.
func (r *Rejection) Wrap(cause error) *Rejection {
	c := *r
	c.Err = cause
	return &c
}

// Retry returns a copy of r that tells the client to come back after d.
func (r *Rejection) Retry(d time.Duration) *Rejection {
	c := *r
	c.RetryAfter = d
	return &c
}

// RetrySeconds is RetryAfter in whole seconds, rounded up, at least 1 when
// RetryAfter is set; 0 when it is not.
func (r *Rejection) RetrySeconds() int {
	if r.RetryAfter <= 0 {
		return 0
	}
	return max(int((r.RetryAfter+time.Second-1)/time.Second), 1)
}

// ErrRateLimited refuses a request or a command over a rate or concurrency
// budget, on every wire; Retry-After (or a socket reply's retryAfter) tells
// when to come back.
var ErrRateLimited = Reject(http.StatusTooManyRequests, CodeRateLimited, "Too many requests; retry after the time in Retry-After.")

// Codes every plugin and transport may use. Plugins define their own beside
// these; a code never changes meaning once published.
const (
	CodeInvalidRequest = "invalid_request"
	CodeUnknownCommand = "unknown_command"
	CodeAccessDenied   = "access_denied"
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeNotFound       = "not_found"
	CodeTooLarge       = "too_large"
	CodeRateLimited    = "rate_limited"
	CodeVetoed         = "vetoed"
	CodeUnavailable    = "unavailable"
	CodeTimeout        = "timeout"
	CodeInternal       = "internal"
)

// Generic rejections. The messages of the CXBus ones are CXBus' own.
var (
	ErrUnknownCommand = Reject(http.StatusNotFound, CodeUnknownCommand, "Command does not exist.")
	ErrVetoed         = Reject(http.StatusConflict, CodeVetoed, "Command was cancelled by a 'before' function.")
	ErrUnauthorized   = Reject(http.StatusUnauthorized, CodeUnauthorized, "A valid token is required.")
	ErrForbidden      = Reject(http.StatusForbidden, CodeForbidden, "This caller may not invoke this command.")
	ErrInternal       = Reject(http.StatusInternalServerError, CodeInternal, "Internal error.")
	ErrTimeout        = Reject(http.StatusServiceUnavailable, CodeTimeout, "The command did not complete in time.")
	ErrUnavailable    = Reject(http.StatusServiceUnavailable, CodeUnavailable, "The service is shutting down.")
)

// AsRejection returns the rejection inside err, or ErrInternal wrapping err
// for anything else: internals never reach a client.
func AsRejection(err error) *Rejection {
	var r *Rejection
	if errors.As(err, &r) {
		return r
	}
	return ErrInternal.Wrap(err)
}

// CodeOf returns the stable code of err; errors that are not rejections are
// "internal".
func CodeOf(err error) string { return AsRejection(err).Code }
