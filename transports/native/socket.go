package native

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

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
)

// session is one socket.
type session struct {
	t       *Transport
	conn    *websocket.Conn
	caller  bus.Caller
	replies chan []byte   // command replies and pongs, to the writer
	done    chan struct{} // closed when the reader stops
	wrote   chan struct{} // closed when the writer stops
	lanes   *lanes
	// stopping is closed when the writer stops writing, before wrote.
	stopping chan struct{}
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
	s := &session{t: t, conn: conn, replies: make(chan []byte, 16), done: make(chan struct{}), wrote: make(chan struct{}),
		stopping: make(chan struct{}), lanes: newLanes()}
	var parser fastjson.Parser

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
		if errors.Is(err, errFrameTooLarge) {
			closeWith(conn, CloseTooLarge, "frame too large")
		} else {
			closeWith(conn, CloseAuthTimeout, "no auth frame")
		}
		return
	}
	f, err := decodeFrame(&parser, data)
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
	s.caller.Remote, _ = conn.Locals(localRemote).(string)
	// docs/wire.md: {"kind":"visitor","chatId":…}; "id" names the chat or agent for every kind.
	who := appendString(append(appendString([]byte(`{"kind":`), s.caller.Kind.String()), `,"id":`...), s.caller.ID)
	if s.caller.Kind == bus.KindVisitor {
		who = appendString(append(who, `,"chatId":`...), s.caller.ID)
	}
	welcome := appendReply(nil, idOr(f.ID), append(who, '}'), nil)
	if err := conn.WriteMessage(fws.TextMessage, welcome); err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})

	t.mu.Lock()
	t.sockets[s] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.sockets, s)
		t.mu.Unlock()
	}()

	// Subscribe before the writer reads the feed, so nothing falls between.
	// An agent hears of all its chats; a visitor of one: their queues differ.
	queue := t.cfg.SocketQueue
	if s.caller.Kind == bus.KindAgent {
		queue = t.cfg.AgentSocketQueue
	}
	sub := t.bus.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: s.caller.Topic(), Buffer: queue})
	go func() {
		s.write(sub, after)
		// End the reader's read: closing the hijacked conn is a no-op in
		// fasthttp (it is closed when the handler returns), so a writer that
		// gave up would otherwise leave the session open until the read
		// deadline. The reader checks stopping after arming its deadline, so
		// one of the two ends its read. SetReadDeadline must come before
		// close(wrote): once wrote is closed the handler may return and the
		// pooled conn is released.
		close(s.stopping)
		_ = s.conn.SetReadDeadline(time.Now())
		close(s.wrote)
	}()
	s.read(&parser)
	close(s.done)
	sub.Close()
	<-s.wrote
	// Commands still running finish on their own (their replies go nowhere
	// once the writer is gone); the session ends when they have.
	s.lanes.wg.Wait()
}

func idOr(id []byte) []byte {
	if id == nil {
		return []byte("0")
	}
	return id
}

// read runs the client's frames until the socket fails or the writer closes
// it.
func (s *session) read(parser *fastjson.Parser) {
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
			if errors.Is(err, errFrameTooLarge) {
				closeWith(s.conn.Conn, CloseTooLarge, "frame too large")
			}
			return
		}
		f, err := decodeFrame(parser, data)
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
		case <-s.wrote:
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

// write is the writer goroutine, the only writer of the socket: it replays
// the feed after the client's seq, then live events, replies and pings.
func (s *session) write(sub *bus.Subscription, after uint64) {
	t := s.t
	ping := time.NewTicker(t.cfg.Heartbeat)
	defer ping.Stop()
	last := after
	var buf []byte
	send := func(units []bus.Event) bool {
		for _, u := range units {
			if u.Seq != 0 && u.Seq <= last {
				continue
			}
			for _, ev := range append([]bus.Event{u}, u.With...) {
				buf = appendEvent(buf[:0], ev)
				_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := s.conn.WriteMessage(fws.TextMessage, buf); err != nil {
					return false
				}
			}
			if u.Seq != 0 {
				last = u.Seq
			}
		}
		return true
	}
	// catchUp reads the feed until it has nothing after last.
	catchUp := func() bool {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), t.cfg.CommandTimeout)
			units, err := t.bus.Feed(ctx, s.caller, last, t.cfg.FeedPage)
			cancel()
			if err != nil {
				t.cfg.Logger.Error("socket feed", "caller", s.caller.ID, "err", err)
				closeWith(s.conn.Conn, fws.CloseInternalServerErr, "feed failed")
				return false
			}
			if !send(units) {
				return false
			}
			if len(units) < t.cfg.FeedPage {
				return true
			}
		}
	}
	if !catchUp() {
		s.conn.Close()
		return
	}
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				if errors.Is(sub.Err(), bus.ErrSlowSubscriber) {
					closeWith(s.conn.Conn, CloseSlowConsumer, "slow consumer: resume from your last seq")
				} else {
					closeWith(s.conn.Conn, fws.CloseGoingAway, "closing")
				}
				s.conn.Close()
				return
			}
			var okSend bool
			if ev.Seq > last+1 {
				// Something came before it that this socket has not seen.
				okSend = catchUp()
			} else {
				okSend = send([]bus.Event{ev})
			}
			if !okSend {
				s.conn.Close()
				return
			}
		case out := <-s.replies:
			_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := s.conn.WriteMessage(fws.TextMessage, out); err != nil {
				s.conn.Close()
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(fws.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				s.conn.Close()
				return
			}
		case <-s.done:
			return
		case <-t.quit:
			closeWith(s.conn.Conn, fws.CloseGoingAway, "server shutting down")
			s.conn.Close()
			return
		}
	}
}

// errWriterDone ends the reader once the writer has stopped.
var errWriterDone = errors.New("native: socket writer stopped")

// errFrameTooLarge is a client frame over Config.FrameBytes.
var errFrameTooLarge = errors.New("native: frame too large")

// readFrame reads one client message of at most limit bytes. It bounds the
// frame itself rather than with SetReadLimit: on an oversized frame the
// library sends close 1009 on its own, and the documented 4413 would never
// reach the client.
func readFrame(conn *fws.Conn, limit int) ([]byte, error) {
	_, r, err := conn.NextReader()
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
	case <-s.wrote:
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
		case <-s.wrote:
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
