package wssession

import (
	"context"
	"sync"
	"time"

	fws "github.com/fasthttp/websocket"
)

// Close codes of the gateway's sockets, documented in docs/wire.md.
const (
	CloseGoingAway      = fws.CloseGoingAway               // 1001
	CloseInvalidUTF8    = fws.CloseInvalidFramePayloadData // 1007
	CloseInternal       = fws.CloseInternalServerErr       // 1011
	CloseSlowConsumer   = 4409
	CloseTooLarge       = 4413
	CloseTooManySockets = 4429
)

// Config tunes a hub's sessions. Zero fields take the defaults noted.
type Config struct {
	// Heartbeat is the ping interval; a socket silent for two of them and
	// 5 s is dead. 25 s.
	Heartbeat time.Duration
	// HeartbeatFrame, when set, is queued on every session at each
	// heartbeat, besides the ping: a text frame the wire's clients watch.
	HeartbeatFrame []byte
	// Replies bounds the frames queued for the writer besides events
	// (command replies, pongs, heartbeats); a reader past it waits. 16.
	Replies int
	// WriteTimeout bounds one write. 10 s.
	WriteTimeout time.Duration
	// SlowText is the text of the 4409 close: what the client does next.
	SlowText string
}

func (c *Config) defaults() {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 25 * time.Second
	}
	if c.Replies <= 0 {
		c.Replies = 16
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.SlowText == "" {
		c.SlowText = "slow consumer"
	}
}

// Hub owns one wire's sessions: their count, the shared heartbeat ticker and
// the shutdown.
type Hub struct {
	cfg Config

	quit       chan struct{} // closed by Close
	quitOnce   sync.Once
	conns      sync.WaitGroup // handlers between Enter and Leave
	tickerOnce sync.Once      // the heartbeat ticker starts with the first session

	mu       sync.Mutex
	sessions map[*Session]struct{} // registered: counted, pinged, told of Close
	entering map[*Session]struct{} // still reading their first frame
}

// NewHub returns a hub of sessions tuned by cfg.
func NewHub(cfg Config) *Hub {
	cfg.defaults()
	return &Hub{cfg: cfg, quit: make(chan struct{}), sessions: map[*Session]struct{}{}, entering: map[*Session]struct{}{}}
}

// Quit is closed when the hub closes.
func (h *Hub) Quit() <-chan struct{} { return h.quit }

// Closing reports whether Close was called.
func (h *Hub) Closing() bool {
	select {
	case <-h.quit:
		return true
	default:
		return false
	}
}

// Sockets counts the registered sessions.
func (h *Hub) Sockets() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Enter starts a session of conn, the handler's: nil when the hub is
// closing (the caller closes conn with 1001). The handler defers Leave.
// Until Authed the session is entering: Close ends its read at once.
func (h *Hub) Enter(conn *fws.Conn) *Session {
	s := &Session{h: h, conn: conn, replies: make(chan []byte, h.cfg.Replies), stopping: make(chan struct{})}
	s.w = Writer{s: s}
	// Counted under mu, and only before quit: Close takes mu after quit, so
	// no Add races its Wait, and it finds the sessions still entering.
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Closing() {
		return nil
	}
	h.conns.Add(1)
	h.entering[s] = struct{}{}
	return s
}

// Close closes quit, ends the reads of entering sessions and kicks every
// registered one (its writer says 1001 and ends the reader), then waits for
// every handler until ctx ends.
func (h *Hub) Close(ctx context.Context) error {
	h.quitOnce.Do(func() { close(h.quit) })
	h.mu.Lock()
	for s := range h.entering {
		_ = s.conn.SetReadDeadline(time.Now())
	}
	live := make([]*Session, 0, len(h.sessions))
	for s := range h.sessions {
		live = append(live, s)
	}
	h.mu.Unlock()
	for _, s := range live {
		s.Kick()
	}
	done := make(chan struct{})
	go func() { h.conns.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startTicker starts the goroutine that pings every session each heartbeat
// and queues the heartbeat frame: one ticker for all, instead of one per
// socket. It stops with the hub.
func (h *Hub) startTicker() {
	h.tickerOnce.Do(func() {
		go func() {
			tick := time.NewTicker(h.cfg.Heartbeat)
			defer tick.Stop()
			var live []*Session
			for {
				select {
				case <-h.quit:
					return
				case <-tick.C:
				}
				h.mu.Lock()
				live = live[:0]
				for s := range h.sessions {
					live = append(live, s)
				}
				h.mu.Unlock()
				for _, s := range live {
					if h.cfg.HeartbeatFrame != nil {
						s.Offer(h.cfg.HeartbeatFrame)
					}
					s.ping()
				}
				clear(live) // hold no ended session until the next tick
			}
		}()
	})
}
