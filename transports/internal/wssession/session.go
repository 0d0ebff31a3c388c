package wssession

import (
	"errors"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	fws "github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/bus"
)

// Source is a session's subscription: a bus.Subscription whose Notify is the
// session's Kick.
type Source interface {
	Events() <-chan bus.Event
	Err() error
	Close()
}

// Pump turns a wire's events into its frames. Its methods run on the
// session's writer goroutine, one at a time, so what they keep needs no lock.
type Pump interface {
	// Start runs once, before anything else is written after Begin: the
	// stream's first frame, or a resume from the client's position.
	Start(w *Writer) bool
	// Event writes the frames of ev. False ends the session.
	Event(w *Writer, ev bus.Event) bool
}

// Errors of the reader.
var (
	// ErrFrameTooLarge is a client frame past the wire's limit (closed 4413).
	ErrFrameTooLarge = errors.New("wssession: frame too large")
	// ErrInvalidUTF8 is a text frame that is not UTF-8: RFC 6455 §8.1
	// closes the connection with 1007 rather than store a mangled text.
	ErrInvalidUTF8 = errors.New("wssession: text frame is not valid UTF-8")
	// ErrStopped ends the reader once the writer has stopped.
	ErrStopped = errors.New("wssession: socket writer stopped")
)

// Session is one socket. See the package doc for its goroutines.
type Session struct {
	h       *Hub
	conn    *fws.Conn
	w       Writer
	replies chan []byte // replies, pongs and heartbeats, to the writer

	// stopping is closed when the session stops writing for good: the
	// writer gave up, or the reader ended. It ends the reader and frees
	// lanes waiting to hand over a reply.
	stopping chan struct{}
	stopOnce sync.Once

	// Lock order: the bus's lock, then mu (Kick runs inside Publish). Nothing
	// holding mu calls into the bus or writes to the socket.
	mu       sync.Mutex // guards the writer's life: running, dirty, finished
	running  bool       // a writer goroutine is draining, or the handler holds the writes
	dirty    bool       // something was queued since the writer last looked
	finished bool       // no writer may start any more
	writers  sync.WaitGroup
	src      Source // set by Begin, under mu
	pump     Pump

	// connMu keeps the pinger off a released conn: ping holds it for
	// reading while it writes, End takes it before the handler returns.
	connMu   sync.RWMutex
	released bool

	started bool // Pump.Start ran; owned by whichever writer runs

	// Owned by the handler goroutine.
	begun, ended bool
	lanes        *lanes // made by the first Dispatch
}

// Authed ends the entering state: Close no longer ends the read at once.
func (s *Session) Authed() {
	s.h.mu.Lock()
	delete(s.h.entering, s)
	s.h.mu.Unlock()
}

// Register counts the session, pings it and tells it of Close. The handler
// holds its writes until Begin: a Kick meanwhile only marks it dirty, and
// the handler may write with WriteNow.
func (s *Session) Register() {
	s.running = true // nothing else sees s yet
	s.h.mu.Lock()
	delete(s.h.entering, s)
	s.h.sessions[s] = struct{}{}
	s.h.mu.Unlock()
}

// Begin hands the writes to the writer: it starts one, which runs
// pump.Start, then writes src's events and queued frames as they come.
func (s *Session) Begin(src Source, pump Pump) {
	alive := 2*s.h.cfg.Heartbeat + 5*time.Second
	s.conn.SetPongHandler(func(string) error {
		if err := s.conn.SetReadDeadline(time.Now().Add(alive)); err != nil {
			return err
		}
		select {
		case <-s.stopping:
			return ErrStopped
		default:
			return nil
		}
	})
	_ = s.conn.SetReadDeadline(time.Time{})
	s.mu.Lock()
	s.src, s.pump = src, pump
	s.running = false
	s.begun = true
	s.mu.Unlock()
	s.h.startTicker()
	s.Kick()
}

// Stopping is closed when the session stops writing for good.
func (s *Session) Stopping() <-chan struct{} { return s.stopping }

func (s *Session) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// Kick makes sure a writer will look at the queues: it starts one unless one
// is running, which then sees dirty before it stops. It never blocks: it
// runs on publishers' goroutines.
func (s *Session) Kick() {
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

// Send queues frame for the writer, waiting while the queue is full; false
// if the session stopped meanwhile.
func (s *Session) Send(frame []byte) bool {
	select {
	case s.replies <- frame:
		s.Kick()
		return true
	case <-s.stopping:
		return false
	}
}

// Offer queues frame unless the queue is full (the writer has something to
// write then anyway) or the session stopped.
func (s *Session) Offer(frame []byte) bool {
	select {
	case <-s.stopping:
		return false
	default:
	}
	select {
	case s.replies <- frame:
		s.Kick()
		return true
	default:
		return false
	}
}

// WriteNow writes frame from the handler while it holds the writes (between
// Register and Begin), or before Register.
func (s *Session) WriteNow(frame []byte) error { return s.w.Write(frame) }

// CloseWith sends a close frame. Any goroutine may: control frames may be
// written beside the writer. The connection is closed when the handler
// returns.
func (s *Session) CloseWith(code int, text string) { closeWith(s.conn, code, text) }

// ReadFirst reads the client's first frame, which must come within timeout.
func (s *Session) ReadFirst(timeout time.Duration, limit int) ([]byte, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	data, err := readFrame(s.conn, limit)
	s.Authed()
	return data, err
}

// Next reads the client's next frame of at most limit bytes. A frame past
// limit is ErrFrameTooLarge, a text frame that is not UTF-8
// ErrInvalidUTF8; ErrStopped once the writer stopped; any other error is the
// end of the connection (a read deadline: the client went silent).
func (s *Session) Next(limit int) ([]byte, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(2*s.h.cfg.Heartbeat + 5*time.Second))
	select {
	case <-s.stopping:
		return nil, ErrStopped
	default:
	}
	return readFrame(s.conn, limit)
}

// Discard reads and drops what the client sends until the connection ends,
// for a wire whose clients send nothing; a frame past limit ends it with
// the library's 1009.
func (s *Session) Discard(limit int64) {
	s.conn.SetReadLimit(limit)
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(2*s.h.cfg.Heartbeat + 5*time.Second))
		_, r, err := s.conn.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

// Refuse closes the socket for a reader's error with its documented code:
// 4413 a frame too large, 1007 a text frame that is not UTF-8. It reports
// whether err was one of them.
func (s *Session) Refuse(err error) bool {
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		s.CloseWith(CloseTooLarge, "frame too large")
	case errors.Is(err, ErrInvalidUTF8):
		s.CloseWith(CloseInvalidUTF8, "text frame is not valid UTF-8")
	default:
		return false
	}
	return true
}

// End stops the session from the handler's side: no writer starts again,
// the source closes, and End returns once the writer and the lanes have
// ended; the conn is released then (no ping touches it after).
func (s *Session) End() {
	if s.ended {
		return
	}
	s.ended = true
	s.stop()
	if s.begun {
		s.src.Close()
	}
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
	s.writers.Wait()
	if s.lanes != nil {
		s.lanes.wg.Wait()
	}
	s.connMu.Lock()
	s.released = true
	s.connMu.Unlock()
}

// Leave ends the session (End) and unregisters it; the handler defers it
// right after Enter.
func (s *Session) Leave() {
	s.End()
	s.h.mu.Lock()
	delete(s.h.entering, s)
	delete(s.h.sessions, s)
	s.h.mu.Unlock()
	s.h.conns.Done()
}

// drain is a writer goroutine, the only writer of the socket while it runs:
// it runs the pump's Start (the first time), then writes events and queued
// frames until both queues are empty, and ends.
func (s *Session) drain() {
	defer s.writers.Done()
	if !s.started {
		if !s.pump.Start(&s.w) {
			s.giveUp()
			return
		}
		s.started = true
	}
	for {
		s.mu.Lock()
		s.dirty = false
		s.mu.Unlock()
		for more := true; more; {
			select {
			case <-s.h.quit:
				s.CloseWith(CloseGoingAway, "server shutting down")
				s.giveUp()
				return
			case <-s.stopping:
				s.park()
				return
			default:
			}
			select {
			case ev, ok := <-s.src.Events():
				if !ok {
					if errors.Is(s.src.Err(), bus.ErrSlowSubscriber) {
						s.CloseWith(CloseSlowConsumer, s.h.cfg.SlowText)
					} else {
						s.CloseWith(CloseGoingAway, "closing")
					}
					s.giveUp()
					return
				}
				if !s.pump.Event(&s.w, ev) {
					s.giveUp()
					return
				}
			case out := <-s.replies:
				if s.w.Write(out) != nil {
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
func (s *Session) park() {
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
}

// giveUp ends the session from the writer's side: no writer starts again, and
// the reader's read ends at once (closing a hijacked conn is a no-op in
// fasthttp, so without the deadline the session would stay open until the
// read deadline). It runs before this writer's writers.Done, so before the
// handler can return and release the pooled conn.
func (s *Session) giveUp() {
	s.mu.Lock()
	s.running, s.finished = false, true
	s.mu.Unlock()
	s.stop()
	_ = s.conn.SetReadDeadline(time.Now())
}

// ping sends a WebSocket ping unless the conn was released. WriteControl may
// run beside a writer. It holds connMu, never mu: Kick must stay quick, it
// runs on the store's commit path.
func (s *Session) ping() {
	s.connMu.RLock()
	defer s.connMu.RUnlock()
	if s.released {
		return
	}
	_ = s.conn.WriteControl(fws.PingMessage, nil, time.Now().Add(time.Second))
}

// Writer is the session's write side, handed to the Pump: only the writer
// goroutine (or the handler holding the writes) uses it.
type Writer struct{ s *Session }

// Write writes one text frame within the hub's write timeout.
func (w *Writer) Write(frame []byte) error {
	_ = w.s.conn.SetWriteDeadline(time.Now().Add(w.s.h.cfg.WriteTimeout))
	return w.s.conn.WriteMessage(fws.TextMessage, frame)
}

// Close sends a close frame; the writer then returns false to end.
func (w *Writer) Close(code int, text string) { w.s.CloseWith(code, text) }

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
		return nil, ErrFrameTooLarge
	}
	if typ == fws.TextMessage && !utf8.Valid(data) {
		return nil, ErrInvalidUTF8
	}
	return data, nil
}

// closeWith sends a close frame within a second.
func closeWith(conn *fws.Conn, code int, text string) {
	_ = conn.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

// CloseConn sends a close frame on a conn that has no session (the hub was
// closing at Enter).
func CloseConn(conn *fws.Conn, code int, text string) { closeWith(conn, code, text) }
