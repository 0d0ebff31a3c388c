package gms

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/ratelimit"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/httpauth"
	"github.com/cxgate/cxgate/transports/internal/upload"
)

// Prefix is the root of the wire's routes: /genesys/2/chat/{serviceName}.
const Prefix = "/genesys/2/chat"

// Config tunes the transport. Zero fields take the defaults noted.
type Config struct {
	// OriginAllowed reports whether a browser page of origin may speak for
	// deployment. Required.
	OriginAllowed  func(deployment, origin string) bool
	CommandTimeout time.Duration // one request's bus calls; 15 s
	FeedPage       int           // transcript messages per answer, at most; 100
	IdleWatch      time.Duration // typing watch of a chat no longer refreshed; 60 s
	Alias          string        // the alias answered and required; "1"
	Logger         *slog.Logger

	// PublicURL is the gateway's public origin (config publicURL): when
	// set, the origin of the gateway's own pages is this one, not one taken
	// from the request's Host or X-Forwarded-* headers.
	PublicURL string
	// Stager, when set, takes the content of uploads as it arrives (the
	// store's staged files): an upload then holds a few chunks in memory,
	// not its file. nil: uploads are read into memory.
	Stager upload.Stager
	// FileLimit is the largest file a deployment takes (files.maxBytes; 0
	// when it takes none): the content of a streamed upload authenticated
	// before its file is deleted as soon as it is past it.
	FileLimit func(deployment string) int64
	// ChatLimiter is the per-chat budget, spent by requests only once
	// they authenticated as the chat (so a stranger who names the chat in a
	// URL spends only their IP's budget); nil is no budget.
	ChatLimiter *ratelimit.Limiter
}

func (c *Config) defaults() {
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 15 * time.Second
	}
	if c.FeedPage == 0 {
		c.FeedPage = 100
	}
	if c.IdleWatch == 0 {
		c.IdleWatch = 60 * time.Second
	}
	if c.Alias == "" {
		c.Alias = "1"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Transport serves the GMS Chat API v2.
type Transport struct {
	bus *bus.Bus
	cfg Config

	mu        sync.Mutex
	watches   map[string]*watch // chat id → typing watch
	lastSweep time.Time
	closed    bool
}

// watch holds the typing events of a chat between two refreshes: one
// subscription to each typing event, so that no burst of messages between two
// refreshes can overflow them (the messages are read from the log).
type watch struct {
	subs      [2]*bus.Subscription // agentTypingStarted, agentTypingStopped
	last      time.Time
	lastIndex int64 // the index of the latest typing indicator answered
}

func (w *watch) close() {
	for _, s := range w.subs {
		s.Close()
	}
}

// typingEvents are the events a watch subscribes to, in the order of its
// subscriptions.
var typingEvents = [2]string{contract.Service + ".agentTypingStarted", contract.Service + ".agentTypingStopped"}

// New returns the GMS transport over b.
func New(b *bus.Bus, cfg Config) *Transport {
	cfg.defaults()
	return &Transport{bus: b, cfg: cfg, watches: map[string]*watch{}}
}

// Prefix is the root of the wire's routes.
func (t *Transport) Prefix() string { return Prefix }

// CORS allows the widget's POSTs with its headers.
func (t *Transport) CORS() (methods, headers string) {
	return "POST,OPTIONS", "Content-Type,apikey,Authorization,X-Requested-With"
}

// RateKey is "": before authentication a request spends its IP's budget
// only. The chat's budget (Config.ChatLimiter) is spent in authenticate.
func (t *Transport) RateKey(*fiber.Ctx) string { return "" }

// Mount adds the routes to r.
func (t *Transport) Mount(r fiber.Router) {
	g := r.Group(Prefix + "/:service")
	g.Post("/", t.handle(t.requestChat))
	g.Post("/:chatId/file", t.sendFile)
	g.Post("/:chatId/file/limits", t.handle(t.fileLimits))
	g.Post("/:chatId/file/:fileId/download", t.downloadFile)
	g.Post("/:chatId/file/:fileId/delete", t.handle(func(context.Context, *fiber.Ctx, form) (*response, error) {
		return nil, errNoDelete
	}))
	g.Post("/:chatId/:op", t.handle(t.operate))
}

// Close ends the typing watches.
func (t *Transport) Close(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for id, w := range t.watches {
		w.close()
		delete(t.watches, id)
	}
	return nil
}

// RenderError writes an error raised under Prefix outside the handlers
// (limits, unknown paths, bodies too large) in the GMS envelope.
func (t *Transport) RenderError(c *fiber.Ctx, rej *bus.Rejection) error {
	if rej.Code == contract.CodeFileTooLarge { // an upload over the gateway's limit, refused before it was read
		ctx, cancel := context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
		defer cancel()
		guest := bus.Caller{Kind: bus.KindGuest, Deployment: serviceOf(c.Path()), Remote: c.IP()}
		return t.fail(c, t.fileError(ctx, guest, rej))
	}
	return t.fail(c, rej)
}

type opFunc func(ctx context.Context, c *fiber.Ctx, f form) (*response, error)

// handle parses the form, runs op and writes its envelope or its error.
func (t *Transport) handle(op opFunc) fiber.Handler {
	return func(c *fiber.Ctx) error {
		f, err := parse(c)
		if err == nil {
			ctx, cancel := context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
			defer cancel()
			var res *response
			if res, err = op(ctx, c, f); err == nil {
				return reply(c, http.StatusOK, res)
			}
		}
		return t.fail(c, err)
	}
}

// parse reads the request's form: multipart or URL-encoded.
func parse(c *fiber.Ctx) (form, error) {
	if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEMultipartForm) {
		mf, err := c.MultipartForm()
		if err != nil {
			return form{}, errBadForm
		}
		return decodeValues(mf.Value)
	}
	return decodeArgs(c.Request().PostArgs())
}

func reply(c *fiber.Ctx, status int, res *response) error {
	body, err := json.Marshal(res)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(body)
}

// fail writes err in the GMS error envelope.
func (t *Transport) fail(c *fiber.Ctx, err error) error {
	rej := bus.AsRejection(err)
	status, statusCode, code, ended := errorOf(rej)
	var ge *gmsError
	if errors.As(err, &ge) {
		code = ge.code
	}
	if n := rej.RetrySeconds(); n > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(n))
	}
	if rej.Code == bus.CodeInternal {
		// The path names the chat, never its secureKey.
		t.cfg.Logger.Error("gms request failed", "path", c.Path(), "err", err)
	}
	res := &response{StatusCode: statusCode, ChatEnded: ended, ChatID: chatIDOf(c.Path()),
		Messages: []message{}, Errors: []apiError{{Code: code, Advice: rej.Message}}}
	return reply(c, status, res)
}

// chatIDOf reads the chat id from a path under Prefix: errors may be
// rendered before a route matched, when there are no route params.
func chatIDOf(path string) string {
	rest, ok := strings.CutPrefix(path, Prefix+"/")
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 {
		return ""
	}
	id, err := url.PathUnescape(parts[1])
	if err != nil {
		return ""
	}
	return strings.Clone(id)
}

// checkOrigin refuses a browser page the deployment does not list; the
// gateway's own pages and non-browser clients pass.
func (t *Transport) checkOrigin(c *fiber.Ctx, deployment string) error {
	origin := httpauth.PageOrigin(c, t.cfg.PublicURL)
	if origin == "" || t.cfg.OriginAllowed(deployment, origin) {
		return nil
	}
	return bus.Reject(http.StatusForbidden, contract.CodeOriginNotAllowed, "This page's origin is not allowed for the deployment.")
}

// command runs one WebChatService command and ignores its result. The
// options travel as JSON: the bus hands the plugin what a client sent, and
// its hooks weigh it (chat starts, stored bytes per address).
func (t *Transport) command(ctx context.Context, caller bus.Caller, name string, opts any) error {
	_, err := t.run(ctx, caller, name, opts)
	return err
}

func (t *Transport) run(ctx context.Context, caller bus.Caller, name string, opts any) (any, error) {
	raw, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	return t.bus.Command(ctx, caller, name, raw)
}

// call runs one WebChatService command and returns its result as the
// contract's type T: the plugin's own value, not encoded and decoded again.
func call[T any](ctx context.Context, t *Transport, caller bus.Caller, name string, opts any) (T, error) {
	res, err := t.run(ctx, caller, name, opts)
	if err != nil {
		var zero T
		return zero, err
	}
	return contract.Result[T](res)
}

// userID is the GMS userId of a chat: its visitor's participant id.
func userID(participantID, chatID string) string {
	if participantID != "" {
		return participantID
	}
	return chatID
}

func (t *Transport) requestChat(ctx context.Context, c *fiber.Ctx, f form) (*response, error) {
	service := strings.Clone(c.Params("service"))
	if err := t.checkOrigin(c, service); err != nil {
		return nil, err
	}
	nick, first, last := f.get("nickname"), f.get("firstName"), f.get("lastName")
	if strings.TrimSpace(nick) == "" {
		switch {
		case strings.TrimSpace(first) == "" && strings.TrimSpace(last) == "":
			return nil, newGMSError(codeName, "A nickname, or a first and a last name, is required.")
		case strings.TrimSpace(first) == "":
			return nil, newGMSError(codeFirstName, "firstName is required with lastName.")
		case strings.TrimSpace(last) == "":
			return nil, newGMSError(codeLastName, "lastName is required with firstName.")
		}
	}
	email := f.get("emailAddress")
	if email != "" && (!strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n")) {
		return nil, newGMSError(codeInvalidEmail, "emailAddress is not a valid email address.")
	}
	guest := bus.Caller{Kind: bus.KindGuest, Deployment: service, Remote: c.IP(), Wire: bus.WireGMS}
	opts := contract.StartChatOptions{Nickname: nick, Firstname: first, Lastname: last, Email: email,
		Subject: f.get("subject")}
	if ud := f.userDataJSON(); ud != nil {
		raw, err := json.Marshal(ud)
		if err != nil {
			return nil, err
		}
		opts.UserData = raw
	}
	started, err := call[contract.StartChatResult](ctx, t, guest, contract.StartChat, opts)
	if err != nil {
		return nil, err
	}
	visitor := bus.Caller{Kind: bus.KindVisitor, ID: started.ChatID, Deployment: service, Remote: guest.Remote}
	if text := f.get("text"); strings.TrimSpace(text) != "" {
		if err := t.command(ctx, visitor, contract.SendMessage, contract.SendMessageOptions{Message: &text}); err != nil {
			return nil, err
		}
	}
	units, err := t.bus.Feed(ctx, visitor, 0, t.cfg.FeedPage)
	if err != nil {
		return nil, err
	}
	msgs, next, ended := transcript(units, 1)
	t.typing(started.ChatID, ended) // watched from the start: typing before the first refresh shows in it
	return &response{StatusCode: statusOK, ChatEnded: ended, ChatID: started.ChatID,
		UserID: userID(started.ParticipantID, started.ChatID), SecureKey: started.Token, Alias: t.cfg.Alias,
		Messages: msgs, NextPosition: next}, nil
}

// session is an authenticated chat request.
type session struct {
	caller    bus.Caller
	userID    string
	secureKey string
	ended     bool
}

// authenticate checks userId, secureKey and alias against the chat of the
// path, as GMS does.
func (t *Transport) authenticate(ctx context.Context, c *fiber.Ctx, f form) (session, error) {
	key := f.get("secureKey")
	if key == "" {
		return session{}, errNotAuthorized
	}
	caller, err := t.bus.Authenticate(ctx, key)
	if err != nil {
		if bus.CodeOf(err) == bus.CodeUnauthorized {
			return session{}, errNotAuthorized
		}
		return session{}, err
	}
	if caller.Kind != bus.KindVisitor {
		return session{}, errNotAuthorized
	}
	if caller.ID != c.Params("chatId") || caller.Deployment != c.Params("service") {
		return session{}, errNoChat
	}
	if f.get("alias") != t.cfg.Alias {
		return session{}, errNotAuthorized
	}
	if ok, retry := t.cfg.ChatLimiter.Allow(Prefix + "|tok:" + caller.ID); !ok {
		return session{}, bus.ErrRateLimited.Retry(retry)
	}
	caller.Remote = c.IP()
	if err := t.checkOrigin(c, caller.Deployment); err != nil {
		return session{}, err
	}
	sd, err := call[contract.SessionData](ctx, t, caller, contract.GetSessionData, contract.GetSessionDataOptions{})
	if err != nil {
		return session{}, err
	}
	uid := userID(sd.ParticipantID, caller.ID)
	if f.get("userId") != uid {
		return session{}, errNotAuthorized
	}
	return session{caller: caller, userID: uid, secureKey: key, ended: sd.State == "ended"}, nil
}

// position reads transcriptPosition: the first index wanted. Absent, ok is
// false; 1 or less (the widget's -1 included) is the whole transcript.
func position(f form) (pos uint64, ok bool, err error) {
	s := strings.TrimSpace(f.get("transcriptPosition"))
	if s == "" {
		return 1, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, errPosition
	}
	return uint64(max(n, 1)), true, nil
}

// operate serves /{chatId}/{op}.
func (t *Transport) operate(ctx context.Context, c *fiber.Ctx, f form) (*response, error) {
	op := c.Params("op")
	switch op {
	case "send", "refresh", "startTyping", "stopTyping", "disconnect", "customNotice", "updateData":
	default:
		return nil, errNoOp
	}
	s, err := t.authenticate(ctx, c, f)
	if err != nil {
		return nil, err
	}
	pos, hasPos, err := position(f)
	if err != nil {
		return nil, err
	}
	switch op {
	case "send":
		msg := f.get("message")
		err = t.command(ctx, s.caller, contract.SendMessage, contract.SendMessageOptions{Message: &msg})
	case "startTyping", "stopTyping":
		typing := op == "startTyping"
		err = t.command(ctx, s.caller, contract.SendTyping, contract.SendTypingOptions{IsTyping: &typing})
	case "customNotice":
		if msg := f.get("message"); msg != "" {
			err = t.command(ctx, s.caller, contract.SendCustomNotice, contract.SendMessageOptions{Message: &msg})
		}
	case "updateData":
		ud := f.userDataJSON()
		if ud == nil {
			ud = map[string]string{}
		}
		err = t.command(ctx, s.caller, contract.UpdateUserData, ud)
	case "disconnect":
		err = t.command(ctx, s.caller, contract.EndChat, struct{}{})
		if bus.CodeOf(err) == contract.CodeNoActiveSession {
			err = nil // already over: disconnecting again is done
		}
	}
	if err != nil {
		return nil, err
	}
	chatID := s.caller.ID
	res := &response{StatusCode: statusOK, ChatID: chatID, UserID: s.userID, SecureKey: s.secureKey,
		Alias: t.cfg.Alias, Messages: []message{}, ChatEnded: op == "disconnect"}
	if op == "refresh" || hasPos {
		units, err := t.bus.Feed(ctx, s.caller, pos-1, t.cfg.FeedPage)
		if err != nil {
			return nil, err
		}
		var ended bool
		res.Messages, res.NextPosition, ended = transcript(units, pos)
		res.ChatEnded = res.ChatEnded || ended || s.ended && len(units) < t.cfg.FeedPage
	}
	if op == "refresh" {
		if typing := t.typing(chatID, res.ChatEnded); typing != nil {
			res.Messages = append(res.Messages, *typing)
		}
	}
	return res, nil
}

// typing returns the latest agent typing indicator published on the chat
// since its previous refresh, and keeps watching it until ended or idle.
// Its index is one no page has seen and below every transcript position
// (see typingIndex).
func (t *Transport) typing(chatID string, ended bool) *message {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if now.Sub(t.lastSweep) > t.cfg.IdleWatch/2 {
		t.lastSweep = now
		for id, w := range t.watches {
			if now.Sub(w.last) > t.cfg.IdleWatch {
				w.close()
				delete(t.watches, id)
			}
		}
	}
	w := t.watches[chatID]
	var latest *message
	if w != nil {
		defer func() {
			if latest != nil {
				latest.Index = typingIndex(now, w.lastIndex)
				w.lastIndex = latest.Index
			}
		}()
		w.last = now
		dropped := false
		for _, sub := range w.subs {
			m, ok := drainLatest(sub)
			dropped = dropped || !ok
			// The latest of the two; a stop wins a tie (it is the second).
			if m != nil && (latest == nil || m.UTCTime >= latest.UTCTime) {
				latest = m
			}
		}
		if dropped || ended { // dropped as slow, or no longer needed
			w.close()
			delete(t.watches, chatID)
			w = nil
		}
	}
	if w == nil && !ended {
		id := strings.Clone(chatID)
		nw := &watch{last: now}
		for i, name := range typingEvents {
			nw.subs[i] = t.bus.Subscribe(bus.SubscribeOptions{Pattern: name, Topic: bus.ChatTopic(id), Buffer: 16})
		}
		t.watches[id] = nw
	}
	return latest
}

// drainLatest reads what sub holds and returns its latest typing message;
// ok is false once the subscription has ended.
func drainLatest(sub *bus.Subscription) (latest *message, ok bool) {
	for {
		select {
		case ev, open := <-sub.Events():
			if !open {
				return latest, false
			}
			var m contract.Message
			if ev.Seq == 0 && json.Unmarshal(ev.Data, &m) == nil {
				gm := toMessage(m)
				latest = &gm
			}
		default:
			return latest, true
		}
	}
}

// typingIndex is the index of a typing indicator answered at now: the
// negative of now in microseconds, and below the previous one answered on
// the chat (prev, 0 for none). The widget handles each index once per page,
// so every indicator needs an index never used before; it moves its
// transcript position only after an index >= 0 and >= the position, so a
// negative one never makes it skip a stored message.
func typingIndex(now time.Time, prev int64) int64 {
	return min(-now.UnixMicro(), prev-1)
}
