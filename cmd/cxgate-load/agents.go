package main

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"
)

// cmdBase separates command ids: a frame id at or above it carries the
// message id frameID-cmdBase; lower ids are setup commands.
const cmdBase = 1 << 24

// errCounter counts errors by kind.
type errCounter struct {
	mu sync.Mutex
	m  map[string]int
	// first example of each kind, for the report
	ex map[string]string
}

func newErrCounter() *errCounter { return &errCounter{m: map[string]int{}, ex: map[string]string{}} }

func (e *errCounter) add(kind string, n int, example string) {
	if n == 0 {
		return
	}
	e.mu.Lock()
	e.m[kind] += n
	if _, ok := e.ex[kind]; !ok && example != "" {
		e.ex[kind] = example
	}
	e.mu.Unlock()
}

func (e *errCounter) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, v := range e.m {
		n += v
	}
	return n
}

func (e *errCounter) snapshot() (map[string]int, map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ex := make(map[string]int, len(e.m)), make(map[string]string, len(e.ex))
	for k, v := range e.m {
		m[k] = v
	}
	for k, v := range e.ex {
		ex[k] = v
	}
	return m, ex
}

// agentClient is one agent on one socket. Its reader never blocks: replies
// queue for its own sender goroutine.
type agentClient struct {
	f     *fleet
	idx   int
	token string
	gw    *gateway // where its socket is, and its HTTP answers go
	ws    *wsConn
	ctl   chan []byte // setup command replies

	mu     sync.Mutex
	queue  []agentReply
	signal chan struct{}
}

type agentReply struct {
	chatID string
	id     int
}

// fleet is the agents of a run.
type fleet struct {
	g        *gateway
	errs     *errCounter
	httpConc int // > 0: agents answer over HTTP with this many requests in flight each
	agents   []*agentClient
	tr       atomic.Pointer[tracker] // the conversation being measured, if any
	stop     chan struct{}
	wg       sync.WaitGroup

	amu      sync.Mutex
	assigned map[string]int // chat id → agent
	changed  chan struct{}  // ticks on each assignment
}

// connectFleet opens one socket per agent and sets every agent online.
func connectFleet(g *gateway, n, httpConc int, errs *errCounter) (*fleet, error) {
	f := &fleet{g: g, errs: errs, httpConc: httpConc, stop: make(chan struct{}), assigned: map[string]int{}, changed: make(chan struct{}, 1)}
	if n > len(g.agentTokens) {
		return nil, fmt.Errorf("%d agents wanted, %d agent tokens known (-agent-tokens)", n, len(g.agentTokens))
	}
	for i := range n {
		gw := g.agentGW(i)
		ws, err := dialWS(gw.wsURL, g.agentTokens[i], 0)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("agent %d: %w", i, err)
		}
		a := &agentClient{f: f, idx: i, token: g.agentTokens[i], gw: gw, ws: ws, ctl: make(chan []byte, 4), signal: make(chan struct{}, 1)}
		f.agents = append(f.agents, a)
		f.wg.Add(2)
		go func() {
			defer f.wg.Done()
			if err := ws.readLoop(a.handle); err != nil {
				errs.add("socket_drop", 1, "agent: "+err.Error())
			}
		}()
		go func() { defer f.wg.Done(); a.send() }()
	}
	for _, a := range f.agents {
		if err := a.setup(`{"id":1,"command":"AgentService.setStatus","options":{"status":"online"}}`); err != nil {
			f.close()
			return nil, fmt.Errorf("agent %d online: %w", a.idx, err)
		}
	}
	return f, nil
}

// setup runs one setup command and waits for its reply.
func (a *agentClient) setup(frame string) error {
	if err := a.ws.write([]byte(frame)); err != nil {
		return err
	}
	select {
	case r := <-a.ctl:
		var p fastjson.Parser
		v, err := p.ParseBytes(r)
		if err != nil || string(v.GetStringBytes("status")) != "resolved" {
			return fmt.Errorf("rejected: %.200s", r)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no reply in 10s")
	}
}

func (f *fleet) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	for _, a := range f.agents {
		a.ws.close()
	}
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// waitAssigned waits until every chat in ids is assigned to an agent.
func (f *fleet) waitAssigned(ids []string, timeout time.Duration) (missing int) {
	deadline := time.After(timeout)
	for {
		missing = 0
		f.amu.Lock()
		for _, id := range ids {
			if _, ok := f.assigned[id]; !ok {
				missing++
			}
		}
		f.amu.Unlock()
		if missing == 0 {
			return 0
		}
		select {
		case <-f.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return missing
		}
	}
}

// handle is the agent socket's reader.
func (a *agentClient) handle(v *fastjson.Value) {
	if ev := v.GetStringBytes("event"); ev != nil {
		switch string(ev) {
		case "AgentService.chatAssigned":
			f := a.f
			f.amu.Lock()
			f.assigned[string(v.GetStringBytes("data", "chatId"))] = a.idx
			f.amu.Unlock()
			select {
			case f.changed <- struct{}{}:
			default:
			}
		case "AgentService.messageReceived":
			tr := a.f.tr.Load()
			if tr == nil {
				return
			}
			now := time.Now()
			var chatID string
			for _, m := range v.GetArray("data", "messages") {
				if string(m.GetStringBytes("from", "type")) != "Client" {
					continue
				}
				id, ok := msgID(m.GetStringBytes("text"), 'v')
				if !ok || !tr.gotVisitorMsg(id, now) || !tr.reply {
					continue
				}
				if chatID == "" {
					chatID = string(v.GetStringBytes("data", "chatId"))
				}
				a.mu.Lock()
				a.queue = append(a.queue, agentReply{chatID: chatID, id: id})
				a.mu.Unlock()
				select {
				case a.signal <- struct{}{}:
				default:
				}
			}
		}
		return
	}
	id := v.GetInt64("id")
	if id < cmdBase {
		select {
		case a.ctl <- v.MarshalTo(nil):
		default:
		}
		return
	}
	if tr := a.f.tr.Load(); tr != nil {
		tr.agentAck(int(id-cmdBase), v)
	}
}

// send is the agent's sender: it answers each visitor message, over its
// socket (one command at a time at the gateway) or over HTTP from
// f.httpConc concurrent requests.
func (a *agentClient) send() {
	var buf []byte
	var httpq chan agentReply
	if a.f.httpConc > 0 {
		httpq = make(chan agentReply, 1024)
		defer close(httpq)
		for range a.f.httpConc {
			a.f.wg.Add(1)
			go func() {
				defer a.f.wg.Done()
				var body []byte
				for r := range httpq {
					tr := a.f.tr.Load()
					if tr == nil {
						continue
					}
					body = fmt.Appendf(body[:0], `{"command":"AgentService.sendMessage","options":{"chatId":%q,"message":"a%d thanks, let me check that for you","requestId":"%s-a%d"}}`,
						r.chatID, r.id, tr.runID, r.id)
					tr.aSend[r.id].Store(time.Now().UnixNano())
					tr.aSent.Add(1)
					rep, err := a.gw.command(a.token, body, 15*time.Second)
					switch {
					case err != nil:
						tr.aAck[r.id].Store(2)
						a.f.errs.add("http_error", 1, "agent sendMessage: "+err.Error())
					case rep.resolved:
						tr.acked(tr.aAck, r.id)
					default:
						tr.aAck[r.id].Store(2)
						a.f.errs.add("rejected", 1, fmt.Sprintf("agent sendMessage: HTTP %d %s", rep.status, rep.code))
					}
				}
			}()
		}
	}
	for {
		select {
		case <-a.signal:
		case <-a.f.stop:
			return
		}
		a.mu.Lock()
		q := a.queue
		a.queue = nil
		a.mu.Unlock()
		tr := a.f.tr.Load()
		for _, r := range q {
			if tr == nil {
				break
			}
			if httpq != nil {
				select {
				case httpq <- r:
				case <-a.f.stop:
					return
				}
				continue
			}
			buf = fmt.Appendf(buf[:0], `{"id":%d,"command":"AgentService.sendMessage","options":{"chatId":%q,"message":"a%d thanks, let me check that for you","requestId":"%s-a%d"}}`,
				cmdBase+r.id, r.chatID, r.id, tr.runID, r.id)
			tr.aSend[r.id].Store(time.Now().UnixNano())
			tr.aSent.Add(1)
			if err := a.ws.write(buf); err != nil {
				a.f.errs.add("socket_write", 1, "agent: "+err.Error())
				return
			}
		}
	}
}

// msgID reads the id of a load message: prefix, then digits.
func msgID(text []byte, prefix byte) (int, bool) {
	if len(text) < 2 || text[0] != prefix {
		return 0, false
	}
	end := 1
	for end < len(text) && text[end] >= '0' && text[end] <= '9' {
		end++
	}
	id, err := strconv.Atoi(string(text[1:end]))
	return id, err == nil
}
