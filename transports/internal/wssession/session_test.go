package wssession_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/transports/internal/wssession"
)

// frameLimit is the test wire's largest client frame.
const frameLimit = 64

// testWire is a small wire on a Session, served by fiber on a real listener
// as the gateway's wires are. Its first client frame names the topic; the
// welcome "welcome" follows, then the pump's "start", then each event's
// data. A frame "cmd:<lane>:<name>" runs a command on lane <lane> that waits
// for release(<name>) and answers "done:<name>"; any other frame is echoed.
// A first frame "slow:<topic>" publishes more events than the queue holds
// before Begin.
type testWire struct {
	hub *wssession.Hub
	bus *bus.Bus
	url string

	mu      sync.Mutex
	gates   map[string]chan struct{}
	running map[string]int // commands running per lane
	overlap []string       // lanes seen running two commands at once
	started chan string    // command names, as they start
}

func newTestWire(t *testing.T, cfg wssession.Config) *testWire {
	t.Helper()
	w := &testWire{hub: wssession.NewHub(cfg), bus: bus.New(), gates: map[string]chan struct{}{},
		running: map[string]int{}, started: make(chan string, 64)}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/ws", websocket.New(w.serve, websocket.Config{WriteBufferPool: &sync.Pool{}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wiretest.Timeout)
		defer cancel()
		_ = w.hub.Close(ctx)
		_ = app.Shutdown()
	})
	w.url = "ws://" + ln.Addr().String() + "/ws"
	return w
}

func (w *testWire) gate(name string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.gates[name]
	if g == nil {
		g = make(chan struct{})
		w.gates[name] = g
	}
	return g
}

func (w *testWire) release(name string) { close(w.gate(name)) }

// pump writes "start" first, then each event's data.
type pump struct{}

func (pump) Start(w *wssession.Writer) bool { return w.Write([]byte("start")) == nil }

func (pump) Event(w *wssession.Writer, ev bus.Event) bool { return w.Write(ev.Data) == nil }

func (w *testWire) serve(conn *websocket.Conn) {
	s := w.hub.Enter(conn.Conn)
	if s == nil {
		wssession.CloseConn(conn.Conn, wssession.CloseGoingAway, "server shutting down")
		return
	}
	defer s.Leave()
	first, err := s.ReadFirst(wiretest.Timeout, frameLimit)
	if err != nil {
		if w.hub.Closing() {
			s.CloseWith(wssession.CloseGoingAway, "server shutting down")
		} else if !s.Refuse(err) {
			s.CloseWith(4408, "no first frame")
		}
		return
	}
	topic, slow := strings.CutPrefix(string(first), "slow:")
	s.Register()
	sub := w.bus.Subscribe(bus.SubscribeOptions{Pattern: "*", Topic: topic, Buffer: 2, Notify: s.Kick})
	if slow {
		for i := range 3 {
			w.bus.Publish(bus.Event{Name: "T.ev", Topic: topic, Seq: uint64(i + 1), Data: []byte("ev")})
		}
	}
	if s.WriteNow([]byte("welcome")) != nil {
		sub.Close()
		return
	}
	s.Begin(sub, pump{})
	for {
		data, err := s.Next(frameLimit)
		if err != nil {
			s.Refuse(err)
			break
		}
		if rest, ok := strings.CutPrefix(string(data), "cmd:"); ok {
			lane, name, _ := strings.Cut(rest, ":")
			if !s.Dispatch(lane, func() []byte { return w.command(lane, name) }) {
				break
			}
			continue
		}
		if !s.Send(data) {
			break
		}
	}
	s.End()
}

// command runs one test command: it notes an overlap if its lane runs
// another, says it started, and waits for its gate.
func (w *testWire) command(lane, name string) []byte {
	w.mu.Lock()
	w.running[lane]++
	if w.running[lane] > 1 {
		w.overlap = append(w.overlap, lane)
	}
	w.mu.Unlock()
	w.started <- name
	<-w.gate(name)
	w.mu.Lock()
	w.running[lane]--
	w.mu.Unlock()
	return []byte("done:" + name)
}

// client is a real WebSocket client of the test wire.
type client struct {
	t    *testing.T
	conn *fws.Conn
}

func (w *testWire) dial(t *testing.T, first string) *client {
	t.Helper()
	d := fws.Dialer{HandshakeTimeout: wiretest.Timeout}
	conn, resp, err := d.Dial(w.url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn}
	if first != "" {
		c.write(first)
		c.expect("welcome")
		c.expect("start")
	}
	return c
}

func (c *client) write(frame string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(fws.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("write %q: %v", frame, err)
	}
}

// next reads the next text frame, or the error that ended the socket.
func (c *client) next() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(wiretest.Timeout))
	_, data, err := c.conn.ReadMessage()
	return string(data), err
}

func (c *client) expect(want string) {
	c.t.Helper()
	got, err := c.next()
	if err != nil || got != want {
		c.t.Fatalf("frame %q, %v; want %q", got, err, want)
	}
}

// closed reads until the socket ends and returns its close code, skipping
// the frames before.
func (c *client) closed() (int, string) {
	c.t.Helper()
	for {
		_, err := c.next()
		if err == nil {
			continue
		}
		var ce *fws.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("socket ended with %v, want a close frame", err)
		}
		return ce.Code, ce.Text
	}
}

// TestEventsAndReplies: the pump's first frame, then events in order with
// replies between them, all from the one writer.
func TestEventsAndReplies(t *testing.T) {
	w := newTestWire(t, wssession.Config{})
	c := w.dial(t, "chat/1")
	w.bus.Publish(bus.Event{Name: "T.a", Topic: "chat/1", Seq: 1, Data: []byte("a")})
	c.expect("a")
	c.write("echo")
	c.expect("echo")
	w.bus.Publish(bus.Event{Name: "T.b", Topic: "chat/1", Seq: 2, Data: []byte("b")})
	w.bus.Publish(bus.Event{Name: "T.c", Topic: "chat/1", Seq: 3, Data: []byte("c")})
	c.expect("b")
	c.expect("c")
	if n := w.hub.Sockets(); n != 1 {
		t.Errorf("Sockets() = %d, want 1", n)
	}
}

// TestSlowConsumer: a subscription that overflowed its bounded queue closes
// the socket with 4409 and the hub's text, after what was queued.
func TestSlowConsumer(t *testing.T) {
	w := newTestWire(t, wssession.Config{SlowText: "slow consumer: resume"})
	c := w.dial(t, "")
	c.write("slow:chat/2")
	c.expect("welcome")
	c.expect("start")
	if code, text := c.closed(); code != wssession.CloseSlowConsumer || text != "slow consumer: resume" {
		t.Errorf("closed %d %q, want %d", code, text, wssession.CloseSlowConsumer)
	}
}

// TestInvalidUTF8Closes1007: a text frame that is not UTF-8 closes the
// socket with 1007 (RFC 6455 §8.1), before and after the first frame.
func TestInvalidUTF8Closes1007(t *testing.T) {
	w := newTestWire(t, wssession.Config{})
	for _, first := range []string{"", "chat/3"} {
		c := w.dial(t, first)
		c.write("\xff\xfe")
		if code, _ := c.closed(); code != wssession.CloseInvalidUTF8 {
			t.Errorf("first %q: closed %d, want 1007", first, code)
		}
	}
}

// TestFrameTooLarge: a frame past the wire's limit closes with 4413, not the
// library's 1009.
func TestFrameTooLarge(t *testing.T) {
	w := newTestWire(t, wssession.Config{})
	for _, first := range []string{"", "chat/4"} {
		c := w.dial(t, first)
		c.write(strings.Repeat("x", frameLimit+1))
		if code, _ := c.closed(); code != wssession.CloseTooLarge {
			t.Errorf("first %q: closed %d, want 4413", first, code)
		}
	}
	// A frame of the limit is fine.
	c := w.dial(t, "chat/4")
	c.write(strings.Repeat("x", frameLimit))
	c.expect(strings.Repeat("x", frameLimit))
}

// TestHeartbeat: each heartbeat pings every socket and queues the hub's
// heartbeat frame on it.
func TestHeartbeat(t *testing.T) {
	w := newTestWire(t, wssession.Config{Heartbeat: 20 * time.Millisecond, HeartbeatFrame: []byte("hb")})
	c := w.dial(t, "chat/5")
	pings := make(chan struct{}, 16)
	c.conn.SetPingHandler(func(string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.conn.WriteControl(fws.PongMessage, nil, time.Now().Add(time.Second))
	})
	for range 2 {
		c.expect("hb")
	}
	select {
	case <-pings:
	default:
		t.Error("two heartbeat frames came, and no ping")
	}
}

// TestLanes: commands of one lane run one at a time, in order; other lanes
// run beside them; each answer goes out as the command ends.
func TestLanes(t *testing.T) {
	w := newTestWire(t, wssession.Config{})
	c := w.dial(t, "chat/6")
	c.write("cmd:a:1")
	c.write("cmd:a:2")
	c.write("cmd:b:3")
	// 1 and 3 start while 1 waits: lane b does not wait for lane a.
	got := map[string]bool{<-w.started: true, <-w.started: true}
	if !got["1"] || !got["3"] {
		t.Fatalf("started %v, want 1 and 3 first", got)
	}
	w.release("3")
	c.expect("done:3")
	w.release("1")
	c.expect("done:1")
	if name := <-w.started; name != "2" {
		t.Fatalf("started %s after 1, want 2", name)
	}
	w.release("2")
	c.expect("done:2")
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.overlap) > 0 {
		t.Errorf("lanes ran two commands at once: %v", w.overlap)
	}
}

// TestCloseSaysGoingAway: the hub's Close ends every socket with 1001, those
// still before their first frame too, and waits for their handlers.
func TestCloseSaysGoingAway(t *testing.T) {
	w := newTestWire(t, wssession.Config{})
	idle := w.dial(t, "chat/7")
	entering := w.dial(t, "")
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return w.hub.Sockets() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), wiretest.Timeout)
	defer cancel()
	if err := w.hub.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, c := range map[string]*client{"idle": idle, "entering": entering} {
		if code, _ := c.closed(); code != wssession.CloseGoingAway {
			t.Errorf("%s socket closed %d, want 1001", name, code)
		}
	}
	if n := w.hub.Sockets(); n != 0 {
		t.Errorf("Sockets() = %d after Close, want 0", n)
	}
	late := w.dial(t, "")
	if code, _ := late.closed(); code != wssession.CloseGoingAway {
		t.Errorf("socket after Close: closed %d, want 1001", code)
	}
}

// TestIdleSocketIsOneGoroutine: once its writer has nothing to write, an
// idle socket keeps its reader alone (no writer, no lane, no ticker of its
// own); one ticker serves the hub.
func TestIdleSocketIsOneGoroutine(t *testing.T) {
	w := newTestWire(t, wssession.Config{HeartbeatFrame: []byte("hb")})
	const n = 50
	for range n {
		c := w.dial(t, "chat/8")
		c.write("cmd:a:x") // a lane runs once: it must end too
	}
	w.release("x")
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return w.hub.Sockets() == n })
	var counts map[string]int
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		counts = goroutines("(*testWire).serve", "(*Session).drain", "(*Session).runLane", "(*Hub).startTicker")
		return counts["(*Session).drain"] == 0 && counts["(*Session).runLane"] == 0
	})
	if counts["(*testWire).serve"] != n || counts["(*Hub).startTicker"] != 1 {
		t.Errorf("goroutines of %d idle sockets: %v, want %d readers and 1 ticker", n, counts, n)
	}
}

// goroutines counts the goroutines whose stack holds each of funcs.
func goroutines(funcs ...string) map[string]int {
	buf := make([]byte, 1<<20)
	for {
		k := runtime.Stack(buf, true)
		if k < len(buf) {
			buf = buf[:k]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	counts := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) { // a frame's name, or an inlined caller's around it
				counts[f]++
			}
		}
	}
	return counts
}

// TestClientGoneWhileCommandRuns: a client that leaves while its command
// runs ends the session once the command has: its reply goes nowhere, and
// nothing writes to the released conn (the race detector watches).
func TestClientGoneWhileCommandRuns(t *testing.T) {
	w := newTestWire(t, wssession.Config{})
	c := w.dial(t, "chat/9")
	c.write("cmd:a:gone")
	if name := <-w.started; name != "gone" {
		t.Fatalf("started %s, want gone", name)
	}
	c.conn.Close()
	w.bus.Publish(bus.Event{Name: "T.a", Topic: "chat/9", Seq: 1, Data: []byte("a")})
	w.release("gone")
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return w.hub.Sockets() == 0 })
}
