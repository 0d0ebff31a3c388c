package purecloud

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/ratelimit"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/httpauth"
	"github.com/cxgate/cxgate/transports/internal/wssession"
)

// Prefix is where the wire's routes live.
const Prefix = "/api/v2/webchat/guest"

// Config tunes the transport. Zero fields take the defaults noted.
type Config struct {
	// OriginAllowed reports whether a browser page of origin may speak for
	// deployment. Required.
	OriginAllowed  func(deployment, origin string) bool
	Heartbeat      time.Duration // heartbeat frame interval; 10 s (the widget gives up after 14 s of silence)
	CommandTimeout time.Duration // one bus command; 15 s
	StreamQueue    int           // event units queued per stream; 64

	// PublicURL is the gateway's public origin (config publicURL): when
	// set, the origin of the gateway's own pages is this one, not one taken
	// from the request's Host or X-Forwarded-* headers.
	PublicURL string
	// ChatSockets bounds the streams open per chat (limits.socketsPerChat),
	// shared with the native socket; nil: no bound.
	ChatSockets *ratelimit.Slots
}

func (c *Config) defaults() {
	if c.Heartbeat == 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 15 * time.Second
	}
	if c.StreamQueue == 0 {
		c.StreamQueue = 64
	}
	if c.OriginAllowed == nil {
		c.OriginAllowed = func(string, string) bool { return false }
	}
}

// Transport serves Genesys Cloud guest chat v2.
type Transport struct {
	bus *bus.Bus
	cfg Config

	// hub owns the event streams: their heartbeats and shutdown.
	hub *wssession.Hub
}

// New returns the transport over b.
func New(b *bus.Bus, cfg Config) *Transport {
	cfg.defaults()
	return &Transport{bus: b, cfg: cfg, hub: wssession.NewHub(wssession.Config{
		Heartbeat:      cfg.Heartbeat,
		HeartbeatFrame: heartbeat,
		Replies:        2, // heartbeats only: the stream answers nothing
		SlowText:       "slow consumer: read missed messages with ?after=",
	})}
}

// Prefix is the root of the wire's routes.
func (t *Transport) Prefix() string { return Prefix }

// CORS allows the guest calls with their bearer jwt.
func (t *Transport) CORS() (methods, headers string) {
	return "GET,POST,PATCH,DELETE,OPTIONS", "Authorization,Content-Type"
}

// RateKey limits the requests of a bearer jwt together; the create call and
// the stream (its jwt is in the query) are limited per IP only.
func (t *Transport) RateKey(c *fiber.Ctx) string { return httpauth.Bearer(c) }

// Mount adds the routes under Prefix.
func (t *Transport) Mount(r fiber.Router) {
	g := r.Group(Prefix)
	conv := "/conversations/:conversationId"
	member := conv + "/members/:memberId"
	g.Post("/conversations", t.handleCreate)
	g.Get(conv+"/messages", t.handleMessages)
	g.Get(conv+"/messages/:messageId", t.handleMessage)
	g.Get(conv+"/members", t.handleMembers)
	g.Get(member, t.handleMember)
	g.Delete(member, t.handleLeave)
	g.Post(member+"/messages", t.handleSend)
	g.Post(member+"/typing", t.handleTyping)
	g.Get(conv+"/mediarequests", t.handleMediaRequests)
	g.Get(conv+"/mediarequests/:mediaRequestId", t.handleMediaRequest)
	g.Patch(conv+"/mediarequests/:mediaRequestId", t.handlePatchMediaRequest)
	g.Get(conv+"/stream", t.requireStream, t.streamHandler())
}

// Close ends every event stream with 1001 and waits for them until ctx ends.
func (t *Transport) Close(ctx context.Context) error { return t.hub.Close(ctx) }

// Rejections of this wire.
var (
	ErrNoToken          = bus.Reject(http.StatusUnauthorized, bus.CodeUnauthorized, "No authentication bearer token specified in authorization header.")
	ErrNotFound         = bus.Reject(http.StatusNotFound, bus.CodeNotFound, "The requested resource was not found.")
	ErrNotYourMember    = bus.Reject(http.StatusForbidden, bus.CodeForbidden, "A guest may act only as its own member.")
	ErrOriginNotAllowed = bus.Reject(http.StatusForbidden, contract.CodeOriginNotAllowed, "This page's origin is not allowed for the deployment.")
)

// WebChatService codes of a chat that takes no messages.
const (
	errConversationEnded  = contract.CodeNoActiveSession
	errConversationLocked = contract.CodeChatLocked
)

// apiError is Genesys Cloud's error body.
type apiError struct {
	Message       string            `json:"message"`
	Code          string            `json:"code"`
	Status        int               `json:"status"`
	MessageParams map[string]string `json:"messageParams,omitempty"`
	ContextID     string            `json:"contextId,omitempty"`
	Details       []errorDetail     `json:"details"`
	Errors        []struct{}        `json:"errors"`
}

// errorDetail carries cxgate's own stable code for the rejection.
type errorDetail struct {
	ErrorCode string `json:"errorCode"`
}

// genesysCodes names the Genesys error code of each HTTP status.
var genesysCodes = map[int]string{
	http.StatusBadRequest:            "bad.request",
	http.StatusUnauthorized:          "bad.credentials",
	http.StatusForbidden:             "not.authorized",
	http.StatusNotFound:              "not.found",
	http.StatusMethodNotAllowed:      "method.not.allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "request.entity.too.large",
	http.StatusTooManyRequests:       "too.many.requests",
	http.StatusNotImplemented:        "not.implemented",
	http.StatusServiceUnavailable:    "service.unavailable",
}

// toAPIError maps a rejection to Genesys' error body and status.
func toAPIError(rej *bus.Rejection, contextID string) apiError {
	e := apiError{Message: rej.Message, Status: rej.Status, ContextID: contextID,
		Details: []errorDetail{{ErrorCode: rej.Code}}, Errors: []struct{}{}}
	if e.Status == 0 {
		e.Status = http.StatusInternalServerError
	}
	switch {
	case rej.Code == errConversationEnded || rej.Code == errConversationLocked:
		// What Genesys answers a send to a conversation that is not active.
		e.Status, e.Code = http.StatusBadRequest, "chat.error.conversation.state"
		e.MessageParams = map[string]string{"message": "The conversation is not active"}
	case rej.Code == ErrNoToken.Code && rej.Message == ErrNoToken.Message:
		e.Code = "authentication.required"
	default:
		e.Code = genesysCodes[e.Status]
		if e.Code == "" {
			e.Code = "internal.server.error"
		}
	}
	return e
}

// RenderError answers every error under Prefix, the handlers' and those
// raised before a route matched, in Genesys' shape.
func (t *Transport) RenderError(c *fiber.Ctx, rej *bus.Rejection) error {
	e := toAPIError(rej, c.GetRespHeader(fiber.HeaderXRequestID))
	body, _ := json.Marshal(e)
	c.Status(e.Status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// command runs one WebChatService command and ignores its result. The
// options (nil for none) travel as JSON: the bus hands the plugin what a
// client sent, and its hooks weigh it (chat starts, stored bytes per
// address).
func (t *Transport) command(ctx context.Context, caller bus.Caller, name string, options any) error {
	_, err := t.run(ctx, caller, name, options)
	return err
}

func (t *Transport) run(ctx context.Context, caller bus.Caller, name string, options any) (any, error) {
	var opts []byte
	if options != nil {
		var err error
		if opts, err = json.Marshal(options); err != nil {
			return nil, bus.ErrInternal.Wrap(err)
		}
	}
	return t.bus.Command(ctx, caller, name, opts)
}

// call runs one WebChatService command and returns its result as the
// contract's type T: the plugin's own value, not encoded and decoded again.
func call[T any](ctx context.Context, t *Transport, caller bus.Caller, name string, options any) (T, error) {
	res, err := t.run(ctx, caller, name, options)
	if err != nil {
		var zero T
		return zero, err
	}
	out, err := contract.Result[T](res)
	if err != nil {
		return out, bus.ErrInternal.Wrap(err)
	}
	return out, nil
}

// sessionOf reads the caller's chat as getSessionData answers it.
func (t *Transport) sessionOf(ctx context.Context, caller bus.Caller) (session, error) {
	sd, err := call[contract.SessionData](ctx, t, caller, contract.GetSessionData, nil)
	return session{ChatID: sd.ChatID, ParticipantID: sd.ParticipantID, State: sd.State}, err
}

// checkOrigin refuses a browser page whose origin the deployment does not
// list.
func (t *Transport) checkOrigin(deployment, origin string) error {
	if origin != "" && !t.cfg.OriginAllowed(deployment, origin) {
		return ErrOriginNotAllowed
	}
	return nil
}

// visitor authenticates token as the visitor of conversation chatID: no
// token is 401, a token of another kind 403, a token of another
// conversation 404.
func (t *Transport) visitor(ctx context.Context, token, chatID, origin, remote string) (bus.Caller, error) {
	if token == "" {
		return bus.Caller{}, ErrNoToken
	}
	caller, err := t.bus.Authenticate(ctx, token)
	if err != nil {
		return caller, err
	}
	if caller.Kind != bus.KindVisitor {
		return caller, bus.ErrForbidden
	}
	if caller.ID != chatID {
		return caller, ErrNotFound
	}
	caller.Remote = remote
	return caller, t.checkOrigin(caller.Deployment, origin)
}

// session is what getSessionData tells of the caller's chat.
type session struct {
	ChatID        string
	ParticipantID string
	State         string // getSessionData's: "ended" once over
}

func (s session) ended() bool { return s.State == "ended" }

// request authenticates an HTTP request on a conversation and reads its
// session.
func (t *Transport) request(ctx context.Context, c *fiber.Ctx) (bus.Caller, session, error) {
	chatID := c.Params("conversationId")
	caller, err := t.visitor(ctx, httpauth.Bearer(c), chatID, httpauth.PageOrigin(c, t.cfg.PublicURL), c.IP())
	if err != nil {
		return caller, session{}, err
	}
	s, err := t.sessionOf(ctx, caller)
	return caller, s, err
}

func (t *Transport) timeout(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
}

func sendJSON(c *fiber.Ctx, status int, v any) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // the page links keep their "&"
	if err := enc.Encode(v); err != nil {
		return bus.ErrInternal.Wrap(err)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(bytes.TrimRight(body.Bytes(), "\n"))
}

func conversationPath(chatID string) string {
	return Prefix + "/conversations/" + chatID
}

// streamURI is the eventStreamUri of a conversation, with the jwt in the
// query (a browser's WebSocket cannot send an Authorization header): on
// publicURL when it is set, else on the host and scheme the request came
// with (X-Forwarded-Host and -Proto believed from trusted proxies only).
func streamURI(c *fiber.Ctx, publicURL, chatID, token string) string {
	scheme, host := c.Protocol(), c.Hostname()
	if u, err := url.Parse(publicURL); publicURL != "" && err == nil {
		scheme, host = u.Scheme, u.Host
	}
	ws := "ws"
	if strings.EqualFold(scheme, "https") {
		ws = "wss"
	}
	return ws + "://" + host + conversationPath(chatID) + "/stream?jwt=" + url.QueryEscape(token)
}
