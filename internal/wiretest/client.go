package wiretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// Timeout bounds every wait that is not given its own.
const Timeout = 5 * time.Second

// Error is the error of a rejected reply.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Reply is a command's answer, from HTTP or a socket.
type Reply struct {
	HTTPStatus int             `json:"-"` // 0 on a socket
	Header     http.Header     `json:"-"` // nil on a socket
	Body       []byte          `json:"-"` // the raw answer
	ID         json.RawMessage `json:"id,omitempty"`
	Status     string          `json:"status"` // "resolved" or "rejected"
	Data       json.RawMessage `json:"data,omitempty"`
	Error      *Error          `json:"error,omitempty"`
}

// Resolved fails the test unless r resolved, and returns its data.
func (r Reply) Resolved(t testing.TB) json.RawMessage {
	t.Helper()
	if r.Status != "resolved" || r.HTTPStatus != 0 && r.HTTPStatus != http.StatusOK {
		t.Fatalf("want resolved, got HTTP %d %s", r.HTTPStatus, r.Body)
	}
	return r.Data
}

// Into fails the test unless r resolved, and decodes its data into v.
func (r Reply) Into(t testing.TB, v any) {
	t.Helper()
	Decode(t, r.Resolved(t), v)
}

// Rejected fails the test unless r rejected, and returns its error.
func (r Reply) Rejected(t testing.TB) Error {
	t.Helper()
	if r.Status != "rejected" || r.Error == nil {
		t.Fatalf("want rejected, got HTTP %d %s", r.HTTPStatus, r.Body)
	}
	return *r.Error
}

// Decode decodes JSON into v or fails the test.
func Decode(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// Raw is options already encoded as JSON, sent as they are (also when they
// are not an object, to test rejections).
type Raw string

// commandBody encodes {"deployment":…,"command":…,"options":…}.
func commandBody(t testing.TB, deployment, name string, options any) []byte {
	t.Helper()
	b := bytes.NewBufferString(`{`)
	if deployment != "" {
		fmt.Fprintf(b, `"deployment":%s,`, mustJSON(t, deployment))
	}
	fmt.Fprintf(b, `"command":%s`, mustJSON(t, name))
	if options != nil {
		b.WriteString(`,"options":`)
		b.Write(optionsJSON(t, options))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func optionsJSON(t testing.TB, options any) []byte {
	t.Helper()
	switch o := options.(type) {
	case Raw:
		return []byte(o)
	case json.RawMessage:
		return o
	}
	return mustJSON(t, options)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return b
}

// HTTP speaks to the gateway's HTTP endpoints as one client. Its fields may
// be changed between calls; With returns a changed copy.
type HTTP struct {
	t          testing.TB
	BaseURL    string // "http://127.0.0.1:PORT"
	Deployment string // sent with every command when not empty
	Token      string // bearer token; none when empty
	Origin     string // Origin header; none when empty
	Client     *http.Client
}

// NewHTTP returns a client of the gateway at baseURL without a token.
func NewHTTP(t testing.TB, baseURL string) *HTTP {
	t.Helper()
	c := &http.Client{Timeout: 90 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return &HTTP{t: t, BaseURL: strings.TrimSuffix(baseURL, "/"), Client: c}
}

// WithToken returns a copy of h that sends token.
func (h *HTTP) WithToken(token string) *HTTP {
	c := *h
	c.Token = token
	return &c
}

// WithDeployment returns a copy of h that names deployment.
func (h *HTTP) WithDeployment(deployment string) *HTTP {
	c := *h
	c.Deployment = deployment
	return &c
}

// Command runs one command. options is nil (none), Raw JSON, or a value to
// encode.
func (h *HTTP) Command(name string, options any) Reply {
	h.t.Helper()
	return h.Post(commandBody(h.t, h.Deployment, name, options))
}

// Post sends body as is to POST /v1/command.
func (h *HTTP) Post(body []byte) Reply {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.BaseURL+"/v1/command", bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("command request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return h.Do(req)
}

// Do sends req with the client's token and origin and decodes the answer,
// which must be JSON in the wire's envelope.
func (h *HTTP) Do(req *http.Request) Reply {
	h.t.Helper()
	resp, body := h.send(req)
	var r Reply
	if err := json.Unmarshal(body, &r); err != nil {
		h.t.Fatalf("%s %s: HTTP %d, body is not JSON: %q", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	r.HTTPStatus, r.Header, r.Body = resp.StatusCode, resp.Header, body
	return r
}

// Send sends req with the client's token and origin and returns the
// response with its body read.
func (h *HTTP) send(req *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	if h.Origin != "" {
		req.Header.Set("Origin", h.Origin)
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp, body
}

// Send sends req as this client (token, origin) and returns the response
// and its body, whatever they are.
func (h *HTTP) Send(req *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	return h.send(req)
}

// PollResult is a long-poll's answer.
type PollResult struct {
	HTTPStatus int
	Body       []byte
	Events     []Event
	Elapsed    time.Duration
}

// Poll long-polls GET /v1/events?after=N&wait=S and fails the test unless
// it answers 200 with an event list.
func (h *HTTP) Poll(after uint64, wait time.Duration) PollResult {
	h.t.Helper()
	res, err := h.poll(after, wait)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// PollAsync runs Poll on its own goroutine; the result arrives on the
// channel. A failed poll is reported with t.Errorf and yields a zero result.
func (h *HTTP) PollAsync(after uint64, wait time.Duration) <-chan PollResult {
	out := make(chan PollResult, 1)
	go func() {
		res, err := h.poll(after, wait)
		if err != nil {
			h.t.Error(err)
		}
		out <- res
	}()
	return out
}

func (h *HTTP) poll(after uint64, wait time.Duration) (PollResult, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	q.Set("wait", strconv.FormatFloat(wait.Seconds(), 'f', -1, 64))
	req, err := http.NewRequest(http.MethodGet, h.BaseURL+"/v1/events?"+q.Encode(), nil)
	if err != nil {
		return PollResult{}, err
	}
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	if h.Origin != "" {
		req.Header.Set("Origin", h.Origin)
	}
	start := time.Now()
	resp, err := h.Client.Do(req)
	if err != nil {
		return PollResult{}, fmt.Errorf("poll after %d: %w", after, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return PollResult{}, fmt.Errorf("poll after %d: read body: %w", after, err)
	}
	res := PollResult{HTTPStatus: resp.StatusCode, Body: body, Elapsed: time.Since(start)}
	var v struct {
		Events []Event `json:"events"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Events == nil {
		return res, fmt.Errorf("poll after %d: HTTP %d %s", after, resp.StatusCode, body)
	}
	res.Events = v.Events
	return res, nil
}

// Event is one event frame, over a socket or in a long-poll answer.
type Event struct {
	Name string          `json:"event"`
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data"`
}

func (e Event) String() string { return fmt.Sprintf("%s#%d", e.Name, e.Seq) }

// Message is the wire's message shape.
type Message struct {
	Index     uint64 `json:"index"`
	Type      string `json:"type"`
	Text      string `json:"text"`
	Timestamp int64  `json:"timestamp"`
	RequestID string `json:"requestId"`
	From      struct {
		Name          string `json:"name"`
		Type          string `json:"type"`
		ParticipantID string `json:"participantId"`
	} `json:"from"`
}

// Messages returns the messages of a messageReceived event
// (WebChatService's or AgentService's).
func (e Event) Messages(t testing.TB) []Message {
	t.Helper()
	var d struct {
		Messages []Message `json:"messages"`
	}
	Decode(t, e.Data, &d)
	return d.Messages
}

// CheckSequence fails the test unless the stored events (seq > 0) in evs
// cover exactly the seqs from..to in order, none missing, and no event
// (name and seq) arrives twice. Ephemeral events (seq 0) are ignored.
func CheckSequence(t testing.TB, evs []Event, from, to uint64) {
	t.Helper()
	seen := map[string]bool{}
	next := from
	var last uint64
	for _, ev := range evs {
		if ev.Seq == 0 {
			continue
		}
		key := ev.String()
		if seen[key] {
			t.Fatalf("event %s delivered twice in %v", key, evs)
		}
		seen[key] = true
		switch {
		case ev.Seq == last:
			// another event of the same unit
		case ev.Seq == next:
			last, next = ev.Seq, ev.Seq+1
		default:
			t.Fatalf("event %s out of order: want seq %d (or %d again) in %v", key, next, last, evs)
		}
	}
	if next != to+1 {
		t.Fatalf("events end at seq %d, want %d: %v", next-1, to, evs)
	}
}

// WaitFor polls cond until it holds, failing the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("condition not met within %v", timeout)
		case <-tick.C:
		}
	}
}

// Socket is one WebSocket client of GET /v1/ws. Its reader goroutine sorts
// frames into replies, events and pongs; the test reads them with timeouts.
type Socket struct {
	t    testing.TB
	conn *websocket.Conn

	replies chan Reply
	events  chan Event
	pongs   chan json.RawMessage

	started atomic.Bool
	done    chan struct{} // closed when the reader stops
	readErr error         // why it stopped; read after done

	wmu     sync.Mutex // serialises writes
	nextID  atomic.Int64
	stashMu sync.Mutex
	stash   map[string]Reply // replies read while waiting for another id
}

// DialOptions change Dial.
type DialOptions struct {
	Header http.Header // handshake headers, e.g. Origin
	// Manual leaves the reader goroutine stopped until Start: the socket
	// reads nothing (a client that does not read), except Auth's reply.
	Manual bool
	// ReadBuffer, when not zero, fixes the socket's kernel receive buffer
	// (SO_RCVBUF, set before connecting; Unix only), so a client that does
	// not read fills up quickly.
	ReadBuffer int
}

// Dial opens a socket, failing the test if the handshake fails. The socket
// is closed when the test ends.
func Dial(t testing.TB, wsURL string, o DialOptions) *Socket {
	t.Helper()
	s, resp, err := TryDial(t, wsURL, o)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: HTTP %d: %v", wsURL, status, err)
	}
	return s
}

// TryDial opens a socket and returns the handshake's response and error.
func TryDial(t testing.TB, wsURL string, o DialOptions) (*Socket, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: Timeout}
	if o.ReadBuffer > 0 {
		// Before connecting: a buffer shrunk after the handshake is smaller
		// than the window already advertised, and the kernel then drops
		// segments and the sender backs off for seconds.
		nd := net.Dialer{Timeout: Timeout, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.ReadBuffer)
				if serr == nil {
					// Small segments keep the server's send buffer from
					// growing to megabytes on loopback (MSS 64 KiB).
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
				}
			})
			return errors.Join(err, serr)
		}}
		d.NetDial = nd.Dial
	}
	conn, resp, err := d.Dial(wsURL, o.Header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	s := &Socket{
		t: t, conn: conn,
		replies: make(chan Reply, 256),
		events:  make(chan Event, 1<<14),
		pongs:   make(chan json.RawMessage, 16),
		done:    make(chan struct{}),
		stash:   map[string]Reply{},
	}
	t.Cleanup(func() {
		s.conn.Close()
		if s.started.Load() {
			<-s.done
		}
	})
	if !o.Manual {
		s.Start()
	}
	return s, resp, nil
}

// Start starts the reader goroutine of a Manual socket. It is a no-op if
// the reader runs.
func (s *Socket) Start() {
	if s.started.Swap(true) {
		return
	}
	go s.read()
}

func (s *Socket) read() {
	defer close(s.done)
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			s.readErr = err
			return
		}
		s.route(data)
	}
}

// frame is any server frame.
type frame struct {
	Reply
	Event string          `json:"event"`
	Seq   uint64          `json:"seq"`
	Pong  json.RawMessage `json:"pong"`
}

func (s *Socket) route(data []byte) {
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		s.t.Errorf("socket: frame is not JSON: %q", data)
		return
	}
	switch {
	case f.Event != "":
		s.events <- Event{Name: f.Event, Seq: f.Seq, Data: f.Data}
	case f.Pong != nil:
		s.pongs <- f.Pong
	default:
		r := f.Reply
		r.Body = bytes.Clone(data)
		s.replies <- r
	}
}

// Write sends one text frame as is.
func (s *Socket) Write(data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteMessage(websocket.TextMessage, data)
}

// MustWrite sends one text frame or fails the test.
func (s *Socket) MustWrite(data []byte) {
	s.t.Helper()
	if err := s.Write(data); err != nil {
		s.t.Fatalf("socket write: %v", err)
	}
}

// Auth sends {"id":0,"auth":{"token":…,"after":…}} and returns the reply.
func (s *Socket) Auth(token string, after uint64) Reply {
	s.t.Helper()
	s.MustWrite(fmt.Appendf(nil, `{"id":0,"auth":{"token":%s,"after":%d}}`, mustJSON(s.t, token), after))
	if s.started.Load() {
		return s.Reply(json.RawMessage("0"), Timeout)
	}
	// A Manual socket reads the reply itself; nothing precedes it.
	_ = s.conn.SetReadDeadline(time.Now().Add(Timeout))
	defer s.conn.SetReadDeadline(time.Time{})
	_, data, err := s.conn.ReadMessage()
	if err != nil {
		s.t.Fatalf("socket: read auth reply: %v", err)
	}
	var r Reply
	Decode(s.t, data, &r)
	r.Body = data
	return r
}

// MustAuth authenticates or fails the test; it returns the reply's data.
func (s *Socket) MustAuth(token string, after uint64) json.RawMessage {
	s.t.Helper()
	return s.Auth(token, after).Resolved(s.t)
}

// Command sends a command frame with a fresh id and waits for its reply.
func (s *Socket) Command(name string, options any) Reply {
	s.t.Helper()
	id := json.RawMessage(strconv.FormatInt(s.nextID.Add(1), 10))
	b := bytes.NewBufferString(`{"id":`)
	b.Write(id)
	fmt.Fprintf(b, `,"command":%s`, mustJSON(s.t, name))
	if options != nil {
		b.WriteString(`,"options":`)
		b.Write(optionsJSON(s.t, options))
	}
	b.WriteByte('}')
	s.MustWrite(b.Bytes())
	return s.Reply(id, Timeout)
}

// Reply waits for the reply with the given id (raw JSON: 7 or "a").
func (s *Socket) Reply(id json.RawMessage, timeout time.Duration) Reply {
	s.t.Helper()
	key := string(id)
	s.stashMu.Lock()
	r, ok := s.stash[key]
	delete(s.stash, key)
	s.stashMu.Unlock()
	if ok {
		return r
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case r := <-s.replies:
			if string(r.ID) == key {
				return r
			}
			s.stashMu.Lock()
			s.stash[string(r.ID)] = r
			s.stashMu.Unlock()
		case <-s.done:
			// Replies read before the end are still in the channel.
			select {
			case r := <-s.replies:
				if string(r.ID) == key {
					return r
				}
			default:
			}
			s.t.Fatalf("socket closed while waiting for reply %s: %v", key, s.readErr)
		case <-timer.C:
			s.t.Fatalf("no reply %s within %v", key, timeout)
		}
	}
}

// Ping sends {"ping":v} and returns the pong's value.
func (s *Socket) Ping(v any) json.RawMessage {
	s.t.Helper()
	s.MustWrite(fmt.Appendf(nil, `{"ping":%s}`, mustJSON(s.t, v)))
	select {
	case p := <-s.pongs:
		return p
	case <-s.done:
		s.t.Fatalf("socket closed while waiting for a pong: %v", s.readErr)
	case <-time.After(Timeout):
		s.t.Fatalf("no pong within %v", Timeout)
	}
	return nil
}

// Next returns the next event, or false if none arrives within timeout or
// the socket ended.
func (s *Socket) Next(timeout time.Duration) (Event, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev := <-s.events:
		return ev, true
	case <-timer.C:
		return Event{}, false
	case <-s.done:
		select {
		case ev := <-s.events:
			return ev, true
		default:
			return Event{}, false
		}
	}
}

// Expect returns the next event, failing the test unless it is named name.
func (s *Socket) Expect(name string) Event {
	s.t.Helper()
	ev, ok := s.Next(Timeout)
	if !ok {
		s.t.Fatalf("no event within %v, want %s (socket: %v)", Timeout, name, s.Err())
	}
	if ev.Name != name {
		s.t.Fatalf("got event %s %s, want %s", ev, ev.Data, name)
	}
	return ev
}

// Until collects events until one satisfies stop (included), failing the
// test if it does not come within timeout.
func (s *Socket) Until(timeout time.Duration, stop func(Event) bool) []Event {
	s.t.Helper()
	var got []Event
	deadline := time.Now().Add(timeout)
	for {
		ev, ok := s.Next(time.Until(deadline))
		if !ok {
			s.t.Fatalf("wanted event did not come within %v (socket: %v); got %v", timeout, s.Err(), got)
		}
		got = append(got, ev)
		if stop(ev) {
			return got
		}
	}
}

// UntilSeq collects events until the first event of seq.
func (s *Socket) UntilSeq(seq uint64, timeout time.Duration) []Event {
	s.t.Helper()
	return s.Until(timeout, func(ev Event) bool { return ev.Seq >= seq })
}

// Close closes the TCP connection without a close frame: the client drops.
func (s *Socket) Close() {
	s.conn.Close()
	if s.started.Load() {
		<-s.done
	}
}

// Err is why the reader stopped, nil while it runs.
func (s *Socket) Err() error {
	select {
	case <-s.done:
		return s.readErr
	default:
		return nil
	}
}

// Closed reports whether the reader has stopped.
func (s *Socket) Closed() bool { return s.Err() != nil }

// WaitClose waits for the socket to end and returns the close code the
// server sent: a WebSocket close code, 1006 for a connection that ended
// without one, or -1 for another read error.
func (s *Socket) WaitClose(timeout time.Duration) (code int, text string) {
	s.t.Helper()
	s.Start()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("socket still open after %v", timeout)
	}
	var ce *websocket.CloseError
	if errors.As(s.readErr, &ce) {
		return ce.Code, ce.Text
	}
	return -1, s.readErr.Error()
}

// Drain returns the events already received, without waiting.
func (s *Socket) Drain() []Event {
	var out []Event
	for {
		select {
		case ev := <-s.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}
