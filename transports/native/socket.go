package native

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/bus"
)

// Close codes, documented in docs/wire.md.
const (
	CloseAuthFailed   = 4401
	CloseAuthTimeout  = 4408
	CloseSlowConsumer = 4409
	CloseTooLarge     = 4413
	// CloseTooManySockets: the chat has limits.socketsPerChat sockets open
	// already (the auth frame's reply says so first: too_many_sockets).
	CloseTooManySockets = 4429
)

// ErrTooManySockets refuses a socket of a chat that has limits.socketsPerChat
// open already, on the native socket and the guest chat stream alike.
var ErrTooManySockets = bus.Reject(http.StatusTooManyRequests, "too_many_sockets",
	"This chat has as many sockets open as it may; close one first.")

// session is one socket. An idle socket has one goroutine, the reader: a
// writer goroutine runs only while there is something to send, started by
// kick whenever an event or a reply is queued, so idle sockets cost one
// stack, not two. Pings come from the transport's shared ticker.
type session struct {
	t      *Transport
	conn   *websocket.Conn
	caller bus.Caller
	// tokenKey is the socket's token as the HTTP per-token budget keys it:
	// commands over the socket spend the same budget.
	tokenKey string
	sub      *bus.Subscription
	replies  chan []byte // command replies and pongs, to the writer
	lanes    *lanes

	// stopping is closed when the session stops writing for good: the
	// writer gave up, or the reader ended. It ends the reader and frees
	// lanes waiting to hand over a reply.
	stopping chan struct{}
	stopOnce sync.Once

	// Lock order: the bus's lock, then mu (kick runs inside Publish). Nothing
	// holding mu calls into the bus or writes to the socket.
	mu       sync.Mutex // guards the writer's life: running, dirty, finished
	running  bool       // a writer goroutine is draining
	dirty    bool       // something was queued since the writer last looked
	finished bool       // no writer may start any more
	writers  sync.WaitGroup

	// connMu keeps the pinger off a released conn: ping holds it for
	// reading while it writes, the handler takes it before returning.
	connMu   sync.RWMutex
	released bool

	// Owned by whichever writer runs (one at a time, handed over under mu).
	caughtUp bool   // the feed after the client's seq was replayed
	last     uint64 // the highest seq written
	buf      []byte
}

func (s *session) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// kick makes sure a writer will look at the queues: it starts one unless one
// is running, which then sees dirty before it stops.
func (s *session) kick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	s.dirty = true
	if !s.running {
		s.running = true
		s.writers.Add(1)
		go s.drain()
	}
}

// finish stops writers from starting and waits for the running one.
func (s *session) finish() {
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
	s.writers.Wait()
}

// serveSocket is the handler goroutine: it authenticates, starts the writer,
// then reads and runs commands until the socket ends.
func (t *Transport) serveSocket(conn *websocket.Conn) {
	// Counted and registered under t.mu, and only before quit: Close waits
	// for conns after it took t.mu, so no Add races its Wait, and it finds
	// the sockets still in auth.
	t.mu.Lock()
	select {
	case <-t.quit:
		t.mu.Unlock()
		closeWith(conn, fws.CloseGoingAway, "shutting down")
		return
	default:
	}
	t.conns.Add(1)
	defer t.conns.Done()
	t.authing[conn] = struct{}{}
	t.mu.Unlock()
	s := &session{t: t, conn: conn, replies: make(chan []byte, 16), stopping: make(chan struct{}), lanes: newLanes()}

	// The auth frame.
	_ = conn.SetReadDeadline(time.Now().Add(t.cfg.AuthTimeout))
	data, err := readFrame(conn.Conn, t.cfg.FrameBytes)
	t.mu.Lock()
	delete(t.authing, conn)
	t.mu.Unlock()
	if err != nil {
		select {
		case <-t.quit:
			closeWith(conn, fws.CloseGoingAway, "server shutting down")
			return
		default:
		}
		switch {
		case errors.Is(err, errFrameTooLarge):
			closeWith(conn, CloseTooLarge, "frame too large")
		case errors.Is(err, errInvalidUTF8):
			closeWith(conn, fws.CloseInvalidFramePayloadData, "text frame is not valid UTF-8")
		default:
			closeWith(conn, CloseAuthTimeout, "no auth frame")
		}
		return
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
		_ = conn.WriteMessage(fws.TextMessage, appendReply(nil, idOr(f.ID), nil, bus.AsRejection(err)))
		closeWith(conn, CloseAuthFailed, bus.AsRejection(err).Code)
		return
	}
	if s.caller.Kind == bus.KindVisitor {
		release, ok := t.cfg.ChatSockets.Acquire(s.caller.ID)
		if !ok {
			_ = conn.WriteMessage(fws.TextMessage, appendReply(nil, idOr(f.ID), nil, ErrTooManySockets))
			closeWith(conn, CloseTooManySockets, ErrTooManySockets.Code)
			return
		}
		defer release()
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
	// after. Until the welcome is written, running holds every kick (an
	// event published from Subscribe on, Close) to marking dirty: the
	// handler is the only writer. Nothing else sees s before it is
	// registered, so setting running needs no lock.
	s.running = true
	t.mu.Lock()
	t.sockets[s] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.sockets, s)
		t.mu.Unlock()
	}()
	s.sub = t.bus.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: s.caller.Topic(), Buffer: queue, Notify: s.kick})
	if err := conn.WriteMessage(fws.TextMessage, welcome); err != nil {
		s.sub.Close()
		s.connMu.Lock()
		s.released = true
		s.connMu.Unlock()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	t.startPinger()
	s.kick() // replay the feed after the client's seq
	s.read()
	s.stop()
	s.sub.Close()
	// The pooled conn dies when this handler returns: no writer may touch
	// it after. Commands still running finish on their own (their replies
	// go nowhere now); the session ends when they have.
	s.finish()
	s.lanes.wg.Wait()
	s.connMu.Lock()
	s.released = true
	s.connMu.Unlock()
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
	// A socket silent for two heartbeats (no pong, no frame) is dead.
	alive := 2*t.cfg.Heartbeat + 5*time.Second
	s.conn.SetPongHandler(func(string) error {
		if err := s.conn.SetReadDeadline(time.Now().Add(alive)); err != nil {
			return err
		}
		select {
		case <-s.stopping:
			return errWriterDone
		default:
			return nil
		}
	})
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(alive))
		select {
		case <-s.stopping:
			return
		default:
		}
		data, err := readFrame(s.conn.Conn, t.cfg.FrameBytes)
		if err != nil {
			switch {
			case errors.Is(err, errFrameTooLarge):
				closeWith(s.conn.Conn, CloseTooLarge, "frame too large")
			case errors.Is(err, errInvalidUTF8):
				closeWith(s.conn.Conn, fws.CloseInvalidFramePayloadData, "text frame is not valid UTF-8")
			}
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
			if !s.lanes.dispatch(s, *f.Command, idOr(f.ID)) {
				return
			}
			continue
		}
		select {
		case s.replies <- out:
			s.kick()
		case <-s.stopping:
			return
		}
	}
}

func rejectionOrNil(err error) *bus.Rejection {
	if err == nil {
		return nil
	}
	return bus.AsRejection(err)
}

// drain is a writer goroutine, the only writer of the socket while it runs:
// it replays the feed after the client's seq (the first time), then writes
// queued events and replies until both queues are empty, and ends.
func (s *session) drain() {
	defer s.writers.Done()
	t := s.t
	if !s.caughtUp {
		if !s.catchUp() {
			s.giveUp()
			return
		}
		s.caughtUp = true
	}
	for {
		s.mu.Lock()
		s.dirty = false
		s.mu.Unlock()
		for more := true; more; {
			select {
			case <-t.quit:
				closeWith(s.conn.Conn, fws.CloseGoingAway, "server shutting down")
				s.giveUp()
				return
			case <-s.stopping:
				s.park()
				return
			default:
			}
			select {
			case ev, ok := <-s.sub.Events():
				if !ok {
					if errors.Is(s.sub.Err(), bus.ErrSlowSubscriber) {
						closeWith(s.conn.Conn, CloseSlowConsumer, "slow consumer: resume from your last seq")
					} else {
						closeWith(s.conn.Conn, fws.CloseGoingAway, "closing")
					}
					s.giveUp()
					return
				}
				var sent bool
				if ev.Seq > s.last+1 {
					sent = s.catchUp() // something came before it that this socket has not seen
				} else {
					sent = s.send([]bus.Event{ev})
				}
				if !sent {
					s.giveUp()
					return
				}
			case out := <-s.replies:
				_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := s.conn.WriteMessage(fws.TextMessage, out); err != nil {
					s.giveUp()
					return
				}
			default:
				more = false
			}
		}
		s.mu.Lock()
		if !s.dirty {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// park ends a writer that found the session stopping.
func (s *session) park() {
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
}

// giveUp ends the session from the writer's side: no writer starts again, and
// the reader's read ends at once (closing a hijacked conn is a no-op in
// fasthttp, so without the deadline the session would stay open until the
// read deadline). It runs before this writer's writers.Done, so before the
// handler can return and release the pooled conn.
func (s *session) giveUp() {
	s.mu.Lock()
	s.running, s.finished = false, true
	s.mu.Unlock()
	s.stop()
	_ = s.conn.SetReadDeadline(time.Now())
}

// send writes the units not yet written, in order.
func (s *session) send(units []bus.Event) bool {
	for _, u := range units {
		if u.Seq != 0 && u.Seq <= s.last {
			continue
		}
		for _, ev := range append([]bus.Event{u}, u.With...) {
			s.buf = appendEvent(s.buf[:0], ev)
			_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := s.conn.WriteMessage(fws.TextMessage, s.buf); err != nil {
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
func (s *session) catchUp() bool {
	t := s.t
	for {
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.CommandTimeout)
		units, err := t.bus.Feed(ctx, s.caller, s.last, t.cfg.FeedPage)
		cancel()
		if err != nil {
			t.cfg.Logger.Error("socket feed", "caller", s.caller.ID, "err", err)
			closeWith(s.conn.Conn, fws.CloseInternalServerErr, "feed failed")
			return false
		}
		if !s.send(units) {
			return false
		}
		if len(units) < t.cfg.FeedPage {
			return true
		}
	}
}

// ping sends a WebSocket ping unless the conn was released. WriteControl may
// run beside a writer. It holds connMu, never mu: kick must stay quick, it
// runs on the store's commit path.
func (s *session) ping() {
	s.connMu.RLock()
	defer s.connMu.RUnlock()
	if s.released {
		return
	}
	_ = s.conn.WriteControl(fws.PingMessage, nil, time.Now().Add(time.Second))
}

// errWriterDone ends the reader once the writer has stopped.
var errWriterDone = errors.New("native: socket writer stopped")

// errFrameTooLarge is a client frame over Config.FrameBytes.
var errFrameTooLarge = errors.New("native: frame too large")

// errInvalidUTF8 is a text frame that is not UTF-8: RFC 6455 §8.1 closes
// the connection with 1007 rather than store a mangled text.
var errInvalidUTF8 = errors.New("native: text frame is not valid UTF-8")

// readFrame reads one client message of at most limit bytes. It bounds the
// frame itself rather than with SetReadLimit: on an oversized frame the
// library sends close 1009 on its own, and the documented 4413 would never
// reach the client.
func readFrame(conn *fws.Conn, limit int) ([]byte, error) {
	typ, r, err := conn.NextReader()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, errFrameTooLarge
	}
	if typ == fws.TextMessage && !utf8.Valid(data) {
		return nil, errInvalidUTF8
	}
	return data, nil
}

// closeWith sends a close frame; the connection is closed by the caller.
func closeWith(conn interface {
	WriteControl(int, []byte, time.Time) error
}, code int, text string) {
	_ = conn.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

// maxPending bounds the commands one socket may have waiting or running; past
// it the reader stops reading, which pushes back on the client.
const maxPending = 256

// lanes runs a socket's commands off the reader, so a client can pipeline
// them: commands of one lane run in order, lanes run side by side. An
// agent's lane is the chat a command names, so messages to one chat keep
// their order while other chats proceed; a visitor has one lane.
type lanes struct {
	mu      sync.Mutex
	queued  map[string][]laneJob // lane → commands waiting behind the running one
	pending chan struct{}        // one slot per command waiting or running
	wg      sync.WaitGroup       // lane goroutines
}

type laneJob struct {
	cmd Command
	id  []byte
}

func newLanes() *lanes {
	return &lanes{queued: map[string][]laneJob{}, pending: make(chan struct{}, maxPending)}
}

// dispatch queues cmd on its lane; it blocks while maxPending commands are
// in flight and returns false if the session ended meanwhile.
func (l *lanes) dispatch(s *session, cmd Command, id []byte) bool {
	select {
	case l.pending <- struct{}{}:
	case <-s.stopping:
		return false
	}
	lane := ""
	if s.caller.Kind == bus.KindAgent && len(cmd.Options) > 0 {
		lane = fastjson.GetString(cmd.Options, "chatId")
	}
	job := laneJob{cmd: cmd, id: id}
	l.mu.Lock()
	if q, running := l.queued[lane]; running {
		l.queued[lane] = append(q, job)
		l.mu.Unlock()
		return true
	}
	l.queued[lane] = nil // running, nothing behind it yet
	l.mu.Unlock()
	l.wg.Add(1)
	go l.run(s, lane, job)
	return true
}

// run is a lane's goroutine: it runs job and whatever queues behind it, then
// ends. It touches the socket only through the writer's reply channel.
func (l *lanes) run(s *session, lane string, job laneJob) {
	defer l.wg.Done()
	t := s.t
	for {
		ctx, cancel := context.WithTimeout(withRequestID(context.Background(), "ws:"+s.caller.Remote+"#"+string(job.id)), t.cfg.CommandTimeout)
		data, err := t.run(ctx, s.caller, job.cmd)
		cancel()
		out := appendReply(nil, job.id, data, rejectionOrNil(err))
		<-l.pending
		select {
		case s.replies <- out:
			s.kick()
		case <-s.stopping:
		}
		l.mu.Lock()
		q := l.queued[lane]
		if len(q) == 0 {
			delete(l.queued, lane)
			l.mu.Unlock()
			return
		}
		job, l.queued[lane] = q[0], q[1:]
		l.mu.Unlock()
	}
}
