package native

import (
	"context"
	"net/http"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/transports/internal/wssession"
)

// Close codes, documented in docs/wire.md.
const (
	CloseAuthFailed   = 4401
	CloseAuthTimeout  = 4408
	CloseSlowConsumer = wssession.CloseSlowConsumer // 4409
	CloseTooLarge     = wssession.CloseTooLarge     // 4413
	// CloseTooManySockets: the chat has limits.socketsPerChat sockets open
	// already (the auth frame's reply says so first: too_many_sockets).
	CloseTooManySockets = wssession.CloseTooManySockets // 4429
)

// ErrTooManySockets refuses a socket of a chat that has limits.socketsPerChat
// open already, on the native socket and the guest chat stream alike.
var ErrTooManySockets = bus.Reject(http.StatusTooManyRequests, "too_many_sockets",
	"This chat has as many sockets open as it may; close one first.")

// session is one socket's wire side: what it is authenticated as, and the
// delivery position its writer keeps. The socket's life (the writer
// goroutine, pings, lanes, close codes) is the wssession.Session's.
type session struct {
	t  *Transport
	ws *wssession.Session
	// caller is set before Begin and read-only after.
	caller bus.Caller
	// tokenKey is the socket's token as the HTTP per-token budget keys it:
	// commands over the socket spend the same budget.
	tokenKey string
	sub      *bus.Subscription

	// Owned by whichever writer runs (the Pump's methods).
	last uint64 // the highest seq written
	buf  []byte
}

// serveSocket is the handler goroutine: it authenticates, starts the writer,
// then reads and runs commands until the socket ends.
func (t *Transport) serveSocket(conn *websocket.Conn) {
	ws := t.hub.Enter(conn.Conn)
	if ws == nil {
		wssession.CloseConn(conn.Conn, fws.CloseGoingAway, "shutting down")
		return
	}
	defer ws.Leave()
	s := &session{t: t, ws: ws}
	// The handshake runs on a goroutine of its own, which ends with it: the
	// authentication's deep calls grow that goroutine's stack, not the
	// reader's, which an idle socket keeps for its whole life.
	var release func()
	ok := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		release, ok = t.handshake(conn, s)
	}()
	<-done
	if release != nil {
		defer release()
	}
	if !ok {
		return
	}
	ws.Begin(s.sub, s) // the writer replays the feed after the client's seq
	s.read()
	// The pooled conn dies when this handler returns: no writer may touch
	// it after. Commands still running finish on their own (their replies
	// go nowhere now); the session ends when they have.
	ws.End()
}

// handshake reads the auth frame, authenticates it, registers and
// subscribes the socket and writes the welcome. ok is false when the socket
// was refused or failed (and closed if it must be); release, when not nil,
// frees the chat's socket slot once the socket ends.
func (t *Transport) handshake(conn *websocket.Conn, s *session) (rel func(), ok bool) {
	ws := s.ws

	// The auth frame.
	data, err := ws.ReadFirst(t.cfg.AuthTimeout, t.cfg.FrameBytes)
	if err != nil {
		if t.hub.Closing() {
			ws.CloseWith(fws.CloseGoingAway, "server shutting down")
			return nil, false
		}
		if !ws.Refuse(err) {
			ws.CloseWith(CloseAuthTimeout, "no auth frame")
		}
		return nil, false
	}
	f, err := t.decodeFrame(data)
	if err == nil && f.Auth == nil {
		err = badFrame(`the first frame must be {"auth":{"token":…,"after":…}}`)
	}
	var after uint64
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.CommandTimeout)
		s.caller, err = t.bus.Authenticate(ctx, f.Auth.Token)
		cancel()
		after = f.Auth.After
	}
	if err == nil && s.caller.Topic() == "" {
		err = bus.ErrForbidden
	}
	if err == nil {
		origin, _ := conn.Locals(localOrigin).(string)
		err = t.checkOrigin(s.caller, origin)
	}
	if err != nil {
		_ = ws.WriteNow(appendReply(nil, idOr(f.ID), nil, bus.AsRejection(err)))
		ws.CloseWith(CloseAuthFailed, bus.AsRejection(err).Code)
		return nil, false
	}
	if s.caller.Kind == bus.KindVisitor {
		release, ok := t.cfg.ChatSockets.Acquire(s.caller.ID)
		if !ok {
			_ = ws.WriteNow(appendReply(nil, idOr(f.ID), nil, ErrTooManySockets))
			ws.CloseWith(CloseTooManySockets, ErrTooManySockets.Code)
			return nil, false
		}
		rel = release
	}
	s.caller.Remote, _ = conn.Locals(localRemote).(string)
	s.tokenKey = TokenRateKey(f.Auth.Token)
	// docs/wire.md: {"kind":"visitor","chatId":…}; "id" names the chat or agent for every kind.
	who := appendString(append(appendString([]byte(`{"kind":`), s.caller.Kind.String()), `,"id":`...), s.caller.ID)
	if s.caller.Kind == bus.KindVisitor {
		who = appendString(append(who, `,"chatId":`...), s.caller.ID)
	}
	welcome := appendReply(nil, idOr(f.ID), append(who, '}'), nil)

	// Subscribe before the writer reads the feed, so nothing falls between.
	// An agent hears of all its chats; a visitor of one: their queues differ.
	queue := t.cfg.SocketQueue
	if s.caller.Kind == bus.KindAgent {
		queue = t.cfg.AgentSocketQueue
	}
	s.last = after
	// The socket is registered and subscribed before the welcome goes out,
	// so a client that read the welcome is counted and hears every event
	// after. Until Begin, the handler holds the writes: an event published
	// from Subscribe on, or Close, only marks the session dirty.
	ws.Register()
	s.sub = t.bus.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: s.caller.Topic(), Buffer: queue, Notify: ws.Kick})
	if err := ws.WriteNow(welcome); err != nil {
		s.sub.Close()
		return rel, false
	}
	return rel, true
}

func idOr(id []byte) []byte {
	if id == nil {
		return []byte("0")
	}
	return id
}

// decodeFrame decodes one client frame with a pooled parser: the frame
// keeps nothing of the parser, and an idle socket then holds no parser's
// buffers (about 1.5 KiB each).
func (t *Transport) decodeFrame(data []byte) (Frame, error) {
	p := t.parsers.Get()
	defer t.parsers.Put(p)
	return decodeFrame(p, data)
}

// read runs the client's frames until the socket fails or the writer closes
// it.
func (s *session) read() {
	t := s.t
	for {
		data, err := s.ws.Next(t.cfg.FrameBytes)
		if err != nil {
			s.ws.Refuse(err)
			return
		}
		f, err := t.decodeFrame(data)
		if err == nil && f.Command != nil {
			err = t.allow(s)
		}
		var out []byte
		switch {
		case err != nil:
			out = appendReply(nil, idOr(f.ID), nil, bus.AsRejection(err))
		case f.Ping != nil:
			out = append(append([]byte(`{"pong":`), f.Ping...), '}')
		case f.Auth != nil:
			out = appendReply(nil, idOr(f.ID), nil, badFrame("this socket is already authenticated"))
		default:
			cmd, id := *f.Command, idOr(f.ID)
			if !s.ws.Dispatch(s.lane(cmd), func() []byte { return s.run(cmd, id) }) {
				return
			}
			continue
		}
		if !s.ws.Send(out) {
			return
		}
	}
}

// lane is the lane of a command: an agent's is the chat it names, so
// messages to one chat keep their order while other chats proceed; a
// visitor has one lane.
func (s *session) lane(cmd Command) string {
	if s.caller.Kind == bus.KindAgent && len(cmd.Options) > 0 {
		return fastjson.GetString(cmd.Options, "chatId")
	}
	return ""
}

// run runs one command on its lane and returns its reply.
func (s *session) run(cmd Command, id []byte) []byte {
	t := s.t
	ctx, cancel := context.WithTimeout(withRequestID(context.Background(), "ws:"+s.caller.Remote+"#"+string(id)), t.cfg.CommandTimeout)
	defer cancel()
	data, err := t.run(ctx, s.caller, cmd)
	return appendReply(nil, id, data, rejectionOrNil(err))
}

func rejectionOrNil(err error) *bus.Rejection {
	if err == nil {
		return nil
	}
	return bus.AsRejection(err)
}

// Start is the writer's first run: it replays the feed after the client's
// seq.
func (s *session) Start(w *wssession.Writer) bool { return s.catchUp(w) }

// Event writes a live event, or reads the feed again when something came
// before it that this socket has not seen.
func (s *session) Event(w *wssession.Writer, ev bus.Event) bool {
	if ev.Seq > s.last+1 {
		return s.catchUp(w)
	}
	return s.send(w, []bus.Event{ev})
}

// send writes the units not yet written, in order.
func (s *session) send(w *wssession.Writer, units []bus.Event) bool {
	for _, u := range units {
		if u.Seq != 0 && u.Seq <= s.last && !u.Restart {
			continue
		}
		for _, ev := range append([]bus.Event{u}, u.With...) {
			s.buf = appendEvent(s.buf[:0], ev)
			if err := w.Write(s.buf); err != nil {
				return false
			}
		}
		if u.Seq != 0 {
			s.last = u.Seq
		}
	}
	if cap(s.buf) > 64<<10 {
		s.buf = nil // an idle socket keeps no large buffer
	}
	return true
}

// catchUp reads the feed until it has nothing after the last seq written.
func (s *session) catchUp(w *wssession.Writer) bool {
	t := s.t
	for {
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.CommandTimeout)
		units, err := t.bus.Feed(ctx, s.caller, s.last, t.cfg.FeedPage)
		cancel()
		if err != nil {
			t.cfg.Logger.Error("socket feed", "caller", s.caller.ID, "err", err)
			w.Close(wssession.CloseInternal, "feed failed")
			return false
		}
		if !s.send(w, units) {
			return false
		}
		if len(units) < t.cfg.FeedPage {
			return true
		}
	}
}
