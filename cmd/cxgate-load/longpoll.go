package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"
)

// pollSpec is one long-poll: whose, after which seq, and the text that its
// answer must carry.
type pollSpec struct {
	token string
	after uint64
	want  string
}

// pollSet is a set of parked long-polls, each on its own connection.
type pollSet struct {
	sending  atomic.Bool // answers before this are "early"
	answerAt []atomic.Int64
	early    atomic.Int64
	failed   atomic.Int64
	answered atomic.Int64
	wg       sync.WaitGroup
	conns    []net.Conn
	errs     *errCounter
}

// parkPolls writes one GET /v1/events per spec and reads the answers in the
// background.
func parkPolls(addr string, specs []pollSpec, wait time.Duration, errs *errCounter) (*pollSet, error) {
	s := &pollSet{answerAt: make([]atomic.Int64, len(specs)), conns: make([]net.Conn, len(specs)), errs: errs}
	err := parallel(len(specs), 64, func(i int) error {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		s.conns[i] = c
		req := fmt.Sprintf("GET /v1/events?after=%d&wait=%g HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
			specs[i].after, wait.Seconds(), addr, specs[i].token)
		_ = c.SetDeadline(time.Now().Add(wait + 30*time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.read(i, c, specs[i].want)
		}()
		return nil
	})
	return s, err
}

func (s *pollSet) read(i int, c net.Conn, want string) {
	defer c.Close()
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 2048), nil)
	now := time.Now()
	if err != nil {
		s.failed.Add(1)
		s.errs.add("longpoll_failed", 1, err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if !s.sending.Load() {
		s.early.Add(1)
		s.errs.add("longpoll_early", 1, fmt.Sprintf("HTTP %d %.120s", resp.StatusCode, body))
		return
	}
	if err != nil || resp.StatusCode != 200 {
		s.failed.Add(1)
		s.errs.add("longpoll_failed", 1, fmt.Sprintf("HTTP %d %v", resp.StatusCode, err))
		return
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		s.failed.Add(1)
		s.errs.add("protocol", 1, "long-poll answer is not JSON")
		return
	}
	for _, ev := range v.GetArray("events") {
		for _, m := range ev.GetArray("data", "messages") {
			if strings.HasPrefix(string(m.GetStringBytes("text")), want) {
				s.answerAt[i].Store(now.UnixNano())
				s.answered.Add(1)
				return
			}
		}
	}
	s.failed.Add(1)
	s.errs.add("longpoll_failed", 1, fmt.Sprintf("answered without the message: %.200s", body))
}

// closeAll ends every poll still open.
func (s *pollSet) closeAll() {
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
}

// longPollResult is what the long-poll phase measured.
type longPollResult struct {
	N         int     `json:"n"`
	Parked    int     `json:"parked"`
	Early     int     `json:"answered_early"`
	Answered  int     `json:"answered_with_message"`
	Failed    int     `json:"failed"`
	SendSecs  float64 `json:"send_seconds"`
	AllSecs   float64 `json:"all_answered_seconds"`
	Latency   summary `json:"send_to_answer"`
	Clients   string  `json:"clients"` // "this process" or "child process"
	ParkedKiB float64 `json:"heap_stack_kib_per_poll,omitempty"`
}

// pollClients is where the polls run: in this process or in a child.
type pollClients interface {
	park(addr string, specs []pollSpec, wait time.Duration) error
	startSending()
	// collect waits for the answers (at most d) and returns each poll's
	// answer time (0 for none) and the counts.
	collect(d time.Duration) (answerAt []int64, early, failed int, err error)
	close()
}

type localPolls struct {
	errs *errCounter
	s    *pollSet
}

func (l *localPolls) park(addr string, specs []pollSpec, wait time.Duration) error {
	var err error
	l.s, err = parkPolls(addr, specs, wait, l.errs)
	return err
}
func (l *localPolls) startSending() { l.s.sending.Store(true) }
func (l *localPolls) collect(d time.Duration) ([]int64, int, int, error) {
	var err error
	if !waitTimeout(&l.s.wg, d) {
		err = fmt.Errorf("long-polls still open after %v", d)
	}
	l.s.closeAll()
	at := make([]int64, len(l.s.answerAt))
	for i := range at {
		at[i] = l.s.answerAt[i].Load()
	}
	return at, int(l.s.early.Load()), int(l.s.failed.Load()), err
}
func (l *localPolls) close() {
	if l.s != nil {
		l.s.closeAll()
		waitTimeout(&l.s.wg, 10*time.Second)
	}
}

// runLongPolls parks n long-polls, then sends one message in each chat and
// checks that every poll answers with it.
func runLongPolls(o *options, g *gateway, errs *errCounter, rep *Report, progress io.Writer) error {
	n := o.longpolls
	res := longPollResult{N: n, Clients: "this process"}
	var pc pollClients = &localPolls{errs: errs}
	if g.srv != nil && !fdsFor(2*n+4096) || o.clientsChild {
		// Both ends of every connection would not fit in this process.
		child, err := spawnClients(uint64(n+4096), errs)
		if err != nil {
			return fmt.Errorf("client process: %w", err)
		}
		pc, res.Clients = child, "child process"
		_, _ = raiseFDLimit(uint64(n + 4096))
	} else if _, err := raiseFDLimit(uint64(2*n + 4096)); err != nil {
		rep.warn("file descriptors: %v", err)
	}
	defer pc.close()
	fmt.Fprintf(progress, "longpoll: starting %d chats\n", n)
	vs, err := g.startChats(n, 64, "lp")
	if err != nil {
		return fmt.Errorf("start chats: %w", err)
	}
	defer g.endChats(vs, 64)
	specs := make([]pollSpec, n)
	for i, v := range vs {
		specs[i] = pollSpec{token: v.token, after: v.seq, want: fmt.Sprintf("lp%d ", i)}
	}
	m0 := mem{}
	if g.measured() {
		m0, _ = g.mem()
	}
	fmt.Fprintf(progress, "longpoll: parking %d polls (wait %v) from the %s\n", n, o.pollWait, res.Clients)
	if err := pc.park(g.addr, specs, o.pollWait); err != nil {
		return fmt.Errorf("long-polls: %w", err)
	}
	// Every request is written; give the gateway time to park them all.
	time.Sleep(time.Second + time.Duration(n)*50*time.Microsecond)
	if g.measured() {
		m1, _ := g.mem()
		res.ParkedKiB = perConn(m0.HeapStack, m1.HeapStack, n)
	}
	fmt.Fprintf(progress, "longpoll: sending one message per chat\n")

	pc.startSending()
	run := time.Now().UnixNano()
	sendAt := make([]int64, n)
	start := time.Now()
	_ = parallel(n, o.httpConc, func(i int) error {
		body := fmt.Appendf(nil, `{"command":"WebChatService.sendMessage","options":{"message":"lp%d hello","requestId":"cxload-%d-lp%d"}}`, i, run, i)
		sendAt[i] = time.Now().UnixNano()
		r, err := g.command(vs[i].token, body, 15*time.Second)
		if err != nil {
			errs.add("http_error", 1, "sendMessage: "+err.Error())
		} else if !r.resolved {
			errs.add("rejected", 1, fmt.Sprintf("sendMessage: HTTP %d %s", r.status, r.code))
		}
		return nil
	})
	res.SendSecs = time.Since(start).Seconds()
	answerAt, early, failed, err := pc.collect(o.pollWait + 30*time.Second)
	if err != nil {
		rep.warn("longpoll: %v", err)
	}
	var lat []time.Duration
	last := int64(0)
	for i, a := range answerAt {
		if a == 0 {
			continue
		}
		res.Answered++
		last = max(last, a)
		lat = append(lat, time.Duration(a-sendAt[i]))
	}
	if last > 0 {
		res.AllSecs = float64(last-start.UnixNano()) / 1e9
	}
	slices.Sort(lat)
	res.Latency = summarize(lat)
	res.Early, res.Failed = early, failed
	res.Parked = n - early
	if missing := n - res.Answered - res.Early - res.Failed; missing > 0 {
		errs.add("longpoll_unanswered", missing, "")
	}
	rep.Details["longpoll"] = res

	phase := fmt.Sprintf("longpoll/%d", n)
	rep.add(Figure{Phase: phase, Name: "long-polls parked at once", Value: float64(res.Parked), Target: fmt.Sprintf("= %d", n),
		Verdict: atLeast(float64(res.Parked), float64(n)), Note: "clients in the " + res.Clients})
	rep.add(Figure{Phase: phase, Name: "long-polls answered with their message", Value: float64(res.Answered), Target: fmt.Sprintf("= %d", n),
		Verdict: atLeast(float64(res.Answered), float64(n)),
		Note:    fmt.Sprintf("%d sends (%d at a time) in %.2fs, all answered %.2fs after the first send", n, o.httpConc, res.SendSecs, res.AllSecs)})
	rep.add(Figure{Phase: phase, Name: "send → poll answer p50", Value: res.Latency.P50, Unit: "ms", Verdict: "info"})
	rep.add(Figure{Phase: phase, Name: "send → poll answer p99", Value: res.Latency.P99, Unit: "ms", Verdict: "info"})
	if g.measured() {
		note := "gateway only (clients in a child process)"
		switch {
		case g.proc != nil:
			note = "gateway only (its own process)"
		case res.Clients == "this process":
			note = "gateway and client together (same process)"
		}
		rep.add(Figure{Phase: phase, Name: "heap+stack per parked poll", Value: res.ParkedKiB, Unit: "KiB", Verdict: "info", Note: note})
	}
	return nil
}
