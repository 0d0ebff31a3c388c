package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// tracker follows every message of one conversation run: visitor message id
// i is sent as text "v<i> …", its agent's answer as "a<i> …".
type tracker struct {
	runID  string
	reply  bool
	max    int
	errs   *errCounter
	vSend  []atomic.Int64 // unix nanos when the visitor sent message i
	aSend  []atomic.Int64 // when the agent sent its answer
	vGot   []atomic.Bool  // the agent received message i
	aGot   []atomic.Bool  // the visitor received answer i
	vAck   []atomic.Int32 // 1 resolved, 2 rejected, 3 never sent
	aAck   []atomic.Int32
	v2a    recorder
	a2v    recorder
	sent   atomic.Int64 // visitor messages sent
	aSent  atomic.Int64 // agent answers sent
	backlg atomic.Int64 // messages a visitor could not send in time (its queue was full)
	// lastSend and lastAck are the unix nanos of the latest visitor send
	// and the latest acknowledgement (either way): when the clients fall
	// behind the schedule (long-poll visitors send one request at a time)
	// the sending outlasts -duration, and rates must count that time.
	lastSend, lastAck atomic.Int64
}

// latest raises v to now when now is later.
func latest(v *atomic.Int64, now int64) {
	for {
		old := v.Load()
		if now <= old || v.CompareAndSwap(old, now) {
			return
		}
	}
}

// sending records visitor message id's send, now.
func (t *tracker) sending(id int) {
	now := time.Now().UnixNano()
	t.vSend[id].Store(now)
	t.sent.Add(1)
	latest(&t.lastSend, now)
}

// acked records a resolved send in acks.
func (t *tracker) acked(acks []atomic.Int32, id int) {
	acks[id].Store(1)
	latest(&t.lastAck, time.Now().UnixNano())
}

func newTracker(n int, reply bool, errs *errCounter) *tracker {
	return &tracker{
		runID: strconv.FormatInt(time.Now().UnixNano(), 36), reply: reply, max: n, errs: errs,
		vSend: make([]atomic.Int64, n), aSend: make([]atomic.Int64, n),
		vGot: make([]atomic.Bool, n), aGot: make([]atomic.Bool, n),
		vAck: make([]atomic.Int32, n), aAck: make([]atomic.Int32, n),
	}
}

// gotVisitorMsg records message id's arrival at its agent; false for an
// unknown id or a duplicate.
func (t *tracker) gotVisitorMsg(id int, now time.Time) bool {
	if id < 0 || id >= t.max {
		return false
	}
	sent := t.vSend[id].Load()
	if sent == 0 || t.vGot[id].Swap(true) {
		return false
	}
	t.v2a.add(time.Duration(now.UnixNano() - sent))
	return true
}

// gotAgentMsg records answer id's arrival at its visitor.
func (t *tracker) gotAgentMsg(id int, now time.Time) {
	if id < 0 || id >= t.max {
		return
	}
	sent := t.aSend[id].Load()
	if sent == 0 || t.aGot[id].Swap(true) {
		return
	}
	t.a2v.add(time.Duration(now.UnixNano() - sent))
}

func (t *tracker) ack(acks []atomic.Int32, kind string, id int, v *fastjson.Value) {
	if id < 0 || id >= t.max {
		return
	}
	if string(v.GetStringBytes("status")) == "resolved" {
		t.acked(acks, id)
		return
	}
	acks[id].Store(2)
	code := string(v.GetStringBytes("error", "code"))
	t.errs.add("rejected", 1, kind+": "+code)
}

func (t *tracker) visitorAck(id int, v *fastjson.Value) { t.ack(t.vAck, "visitor sendMessage", id, v) }
func (t *tracker) agentAck(id int, v *fastjson.Value)   { t.ack(t.aAck, "agent sendMessage", id, v) }

// visitorEvent handles one event of a visitor's stream (socket frame or
// long-poll entry).
func (t *tracker) visitorEvent(v *fastjson.Value, now time.Time) {
	if string(v.GetStringBytes("event")) != "WebChatService.messageReceived" {
		return
	}
	for _, m := range v.GetArray("data", "messages") {
		if string(m.GetStringBytes("from", "type")) != "Agent" {
			continue
		}
		if id, ok := msgID(m.GetStringBytes("text"), 'a'); ok {
			t.gotAgentMsg(id, now)
		}
	}
}

// pending counts messages still in flight: queued, sent and not yet
// delivered or acknowledged, both ways; rejected ones are settled.
func (t *tracker) pending(n int) int {
	p := 0
	for i := range n {
		va := t.vAck[i].Load()
		switch {
		case va >= 2:
			continue
		case t.vSend[i].Load() == 0 || !t.vGot[i].Load() || va == 0:
			p++
			continue
		case !t.reply:
			continue
		case t.aSend[i].Load() == 0:
			p++
			continue
		}
		if aa := t.aAck[i].Load(); aa != 2 && (aa == 0 || !t.aGot[i].Load()) {
			p++
		}
	}
	return p
}

// loadResult is what the conversation phase measured.
type loadResult struct {
	Transport  string         `json:"transport"`
	Visitors   int            `json:"visitors"`
	Agents     int            `json:"agents"`
	Rate       float64        `json:"rate"`
	Window     time.Duration  `json:"window_ns"`
	Sent       int64          `json:"sent"`
	Delivered  int            `json:"delivered_v2a"`
	Answers    int64          `json:"answers_sent"`
	AnswersGot int            `json:"delivered_a2v"`
	V2A        summary        `json:"v2a"`
	A2V        summary        `json:"a2v"`
	Timeouts   map[string]int `json:"timeouts"`
	Lost       []string       `json:"lost,omitempty"` // the first messages never delivered
	// AckedV2A and AckedA2V are the sends the gateway acknowledged
	// (resolved): each is a durable message.
	AckedV2A int `json:"acked_v2a"`
	AckedA2V int `json:"acked_a2v"`
	// DurablePerSec is (AckedV2A+AckedA2V) over the sending window.
	DurablePerSec float64       `json:"durable_per_s"`
	DurableWindow time.Duration `json:"durable_window_ns"` // the window, or until the last acknowledgement if later
	// CrossNode is set when visitors and agents are on different gateways.
	CrossNode bool     `json:"cross_node,omitempty"`
	Visitor   []string `json:"visitor_targets,omitempty"`
	Agent     []string `json:"agent_targets,omitempty"`
	// GatewayCores is the gateway process's CPU use from the first send
	// to the end of the drain, when it runs apart (-1 otherwise).
	GatewayCores float64 `json:"gateway_cores"`
	GatewayCPUus float64 `json:"gateway_cpu_us_per_visitor_message"` // its answer's included
	// AuxCores is the -aux-pid processes' (PostgreSQL, NATS) CPU use over
	// the same time, children included (-1 without them).
	AuxCores float64 `json:"aux_cores"`
}

// visitorClient is one visitor of the conversation run.
type visitorClient struct {
	vis  visitor
	ws   *wsConn // ws transport
	work chan int
}

// runLoad plays the conversations: visitors send at o.rate for o.duration,
// agents answer each message, both ways are timed.
func runLoad(o *options, g *gateway, f *fleet, errs *errCounter, rep *Report, progress io.Writer) error {
	n := int(math.Ceil(o.rate * o.duration.Seconds()))
	if n < 1 {
		return fmt.Errorf("-rate × -duration sends nothing")
	}
	vs, err := startChatsOn(g.visitorGW, o.visitors, 32, "load")
	if err != nil {
		return fmt.Errorf("start chats: %w", err)
	}
	defer g.endChats(vs, 32)
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.chatID
	}
	if missing := f.waitAssigned(ids, 30*time.Second); missing > 0 {
		return fmt.Errorf("%d of %d chats not assigned to an agent in 30s (agent capacity?)", missing, len(ids))
	}

	stats := g.storeStats()
	tr := newTracker(n, o.reply, errs)
	f.tr.Store(tr)
	defer f.tr.Store(nil)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	clients := make([]*visitorClient, len(vs))
	for i, v := range vs {
		clients[i] = &visitorClient{vis: v, work: make(chan int, 1024)}
	}
	switch o.transport {
	case "ws":
		err = parallel(len(clients), 32, func(i int) error {
			ws, err := dialWS(clients[i].vis.gw.wsURL, clients[i].vis.token, 0)
			clients[i].ws = ws
			return err
		})
		if err != nil {
			for _, c := range clients {
				if c.ws != nil {
					c.ws.close()
				}
			}
			return fmt.Errorf("visitor sockets: %w", err)
		}
		for _, c := range clients {
			wg.Add(2)
			go func() {
				defer wg.Done()
				err := c.ws.readLoop(func(v *fastjson.Value) {
					if v.Exists("event") {
						tr.visitorEvent(v, time.Now())
					} else if id := v.GetInt64("id"); id >= cmdBase {
						tr.visitorAck(int(id-cmdBase), v)
					}
				})
				if err != nil {
					errs.add("socket_drop", 1, "visitor: "+err.Error())
				}
			}()
			go func() {
				defer wg.Done()
				var buf []byte
				for id := range c.work {
					buf = fmt.Appendf(buf[:0], `{"id":%d,"command":"WebChatService.sendMessage","options":{"message":"v%d hello, where is my order?","requestId":"%s-v%d"}}`,
						cmdBase+id, id, tr.runID, id)
					tr.sending(id)
					if err := c.ws.write(buf); err != nil {
						errs.add("socket_write", 1, "visitor: "+err.Error())
						for id := range c.work { // drain: the scheduler never blocks
							tr.vAck[id].Store(3)
						}
						return
					}
				}
			}()
		}
	case "longpoll":
		for _, c := range clients {
			wg.Add(2)
			go func() {
				defer wg.Done()
				var body []byte
				for id := range c.work {
					body = fmt.Appendf(body[:0], `{"command":"WebChatService.sendMessage","options":{"message":"v%d hello, where is my order?","requestId":"%s-v%d"}}`,
						id, tr.runID, id)
					tr.sending(id)
					r, err := c.vis.gw.command(c.vis.token, body, 15*time.Second)
					switch {
					case err != nil:
						tr.vAck[id].Store(2)
						errs.add("http_error", 1, "visitor sendMessage: "+err.Error())
					case r.resolved:
						tr.acked(tr.vAck, id)
					default:
						tr.vAck[id].Store(2)
						errs.add("rejected", 1, fmt.Sprintf("visitor sendMessage: HTTP %d %s", r.status, r.code))
					}
				}
			}()
			go func() {
				defer wg.Done()
				after := c.vis.seq
				var p fastjson.Parser
				for {
					select {
					case <-stop:
						return
					default:
					}
					body, err := c.vis.gw.poll(c.vis.token, after, 2*time.Second)
					now := time.Now()
					if err != nil {
						errs.add("http_error", 1, "visitor poll: "+err.Error())
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Millisecond):
						}
						continue
					}
					v, err := p.ParseBytes(body)
					if err != nil {
						errs.add("protocol", 1, "poll answer is not JSON")
						continue
					}
					for _, ev := range v.GetArray("events") {
						after = max(after, ev.GetUint64("seq"))
						tr.visitorEvent(ev, now)
					}
				}
			}()
		}
	default:
		return fmt.Errorf("-transport %q: want ws or longpoll", o.transport)
	}

	// Progress, every second.
	progDone := make(chan struct{})
	start := time.Now()
	gcpu0, gcpuOK := g.cpu()
	acpu0, acpuOK := g.auxCPU()
	go func() {
		defer close(progDone)
		tick := time.NewTicker(o.progress)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				w1, w2 := tr.v2a.window(), tr.a2v.window()
				sockets := ""
				if n := g.sockets(); n >= 0 {
					sockets = fmt.Sprintf(" sockets=%d", n)
				}
				fmt.Fprintf(progress, "load %5.1fs sent=%d v→a=%d (p99 %.2fms) answers=%d a→v=%d (p99 %.2fms) backlog=%d errors=%d%s\n",
					time.Since(start).Seconds(), tr.sent.Load(), tr.v2a.count(), ms(quantile(w1, 0.99)),
					tr.aSent.Load(), tr.a2v.count(), ms(quantile(w2, 0.99)), tr.backlg.Load(), errs.total(), sockets)
			}
		}
	}()

	// The schedule: message i is due at start + i/rate, sent by visitors in
	// turn. A visitor whose queue is full skips the message (backlog).
	tick := time.NewTicker(time.Millisecond)
	next, rr := 0, 0
	for next < n {
		<-tick.C
		el := time.Since(start)
		due := min(n, int(el.Seconds()*o.rate)+1)
		if el >= o.duration {
			due = n
		}
		for ; next < due; next++ {
			select {
			case clients[rr].work <- next:
			default:
				tr.vAck[next].Store(3)
				tr.backlg.Add(1)
			}
			rr = (rr + 1) % len(clients)
		}
		if el >= o.duration+time.Second {
			break // hopelessly behind: stop scheduling
		}
	}
	tick.Stop()
	for _, c := range clients {
		close(c.work)
	}
	window := max(time.Since(start), o.duration)
	scheduled := next
	st := stats()

	// Drain: wait for what is in flight, -drain after the last send; the
	// clients may still be sending what they queued (long-poll visitors
	// send one request at a time), but not for more than another
	// -duration.
	schedEnd := time.Now()
	for tr.pending(scheduled) > 0 {
		from := schedEnd
		if last := time.Unix(0, tr.lastSend.Load()); last.After(from) {
			from = last
		}
		if now := time.Now(); now.After(schedEnd.Add(o.drain+o.duration)) || now.After(from.Add(o.drain)) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The sending time is until the last send when that came later.
	if last := time.Duration(tr.lastSend.Load() - start.UnixNano()); last > window {
		window = last
	}
	gcpu1, gcpuOK1 := g.cpu()
	acpu1, acpuOK1 := g.auxCPU()
	busy := time.Since(start)
	close(stop)
	<-progDone
	for _, c := range clients {
		if c.ws != nil {
			c.ws.close()
		}
	}
	waitTimeout(&wg, 10*time.Second)

	// Account.
	res := loadResult{Transport: o.transport, Visitors: len(vs), Agents: len(f.agents), Rate: o.rate, Window: window,
		Sent: tr.sent.Load(), Answers: tr.aSent.Load(), Timeouts: map[string]int{}, GatewayCores: -1, AuxCores: -1,
		CrossNode: g.multi()}
	if res.CrossNode {
		for _, x := range g.visitorGWs {
			res.Visitor = append(res.Visitor, x.base)
		}
		for _, x := range g.agentGWs {
			res.Agent = append(res.Agent, x.base)
		}
	}
	if acpuOK && acpuOK1 {
		res.AuxCores = (acpu1 - acpu0) / busy.Seconds()
	}
	if gcpuOK && gcpuOK1 {
		res.GatewayCores = (gcpu1 - gcpu0) / busy.Seconds()
		if res.Sent > 0 {
			res.GatewayCPUus = (gcpu1 - gcpu0) / float64(res.Sent) * 1e6
		}
	}
	for i := range scheduled {
		if tr.vAck[i].Load() == 1 {
			res.AckedV2A++
		}
		if tr.aAck[i].Load() == 1 {
			res.AckedA2V++
		}
		if tr.vAck[i].Load() >= 2 {
			continue
		}
		if tr.vSend[i].Load() == 0 {
			res.Timeouts["not_sent"]++
			continue
		}
		if !tr.vGot[i].Load() {
			res.Timeouts["v2a"]++
			if len(res.Lost) < 10 {
				res.Lost = append(res.Lost, fmt.Sprintf("v%d sent at +%.3fs, ack=%d", i, float64(tr.vSend[i].Load()-start.UnixNano())/1e9, tr.vAck[i].Load()))
			}
			continue
		}
		if o.transport == "ws" && tr.vAck[i].Load() == 0 {
			res.Timeouts["visitor_ack"]++
		}
		if !tr.reply {
			continue
		}
		switch {
		case tr.aSend[i].Load() == 0:
			res.Timeouts["agent_answer_not_sent"]++
		case tr.aAck[i].Load() == 2:
		case !tr.aGot[i].Load():
			res.Timeouts["a2v"]++
		case tr.aAck[i].Load() == 0:
			res.Timeouts["agent_ack"]++
		}
	}
	for k, v := range res.Timeouts {
		errs.add("timeout_"+k, v, "")
	}
	errs.add("client_backlog", int(tr.backlg.Load()), "a visitor's send queue was full")
	v2a, a2v := tr.v2a.sorted(), tr.a2v.sorted()
	res.Delivered, res.AnswersGot = len(v2a), len(a2v)
	res.V2A, res.A2V = summarize(v2a), summarize(a2v)
	secs := window.Seconds()
	// Durable messages over the time until the last acknowledgement when
	// that came after the sending window.
	res.DurableWindow = max(window, time.Duration(tr.lastAck.Load()-start.UnixNano()))
	res.DurablePerSec = float64(res.AckedV2A+res.AckedA2V) / res.DurableWindow.Seconds()
	rep.Details["load"] = res
	if st != nil {
		rep.Details["load_store"] = st
		rep.add(Figure{Phase: "load/" + o.transport + "/agents-" + o.agentSend, Name: "store: writes per commit", Value: st.WritesPerTx, Verdict: "info",
			Note: fmt.Sprintf("%.2f ms in the transaction per commit; writer busy %.0f%% of the time", st.BusyPerTxMs, 100*st.WriterBusyPart)})
	}

	phase := "load/" + o.transport + "/agents-" + o.agentSend
	// The direction names say when messages cross nodes; on one gateway
	// they stay as they always were.
	v2aName, a2vName := "visitor→agent", "agent→visitor"
	if res.CrossNode {
		phase += "/cross-node"
		how := "socket"
		if o.transport == "longpoll" {
			how = "long-poll"
		}
		v2aName = "visitor→agent (" + how + " visitor, cross-node)"
		a2vName = "agent→visitor (" + how + ", cross-node)"
	}
	p99Verdict, p99Note := "n/a", fmt.Sprintf("target applies at ≥ 5000 msg/s; ran at %.0f", o.rate)
	if o.rate >= 5000 {
		p99Verdict, p99Note = atMost(res.V2A.P99, 5), ""
	}
	rep.add(Figure{Phase: phase, Name: v2aName + " p50", Value: res.V2A.P50, Unit: "ms", Verdict: "info"})
	rep.add(Figure{Phase: phase, Name: v2aName + " p99", Value: res.V2A.P99, Unit: "ms", Target: "< 5 ms at 5000 msg/s",
		Ratio: res.V2A.P99 / 5, Baseline: "5 ms", Verdict: p99Verdict, Note: p99Note})
	rep.add(Figure{Phase: phase, Name: v2aName + " p999", Value: res.V2A.P999, Unit: "ms", Verdict: "info"})
	rep.add(Figure{Phase: phase, Name: a2vName + " p50", Value: res.A2V.P50, Unit: "ms", Verdict: "info"})
	rep.add(Figure{Phase: phase, Name: a2vName + " p99", Value: res.A2V.P99, Unit: "ms", Verdict: "info"})
	rep.add(Figure{Phase: phase, Name: a2vName + " p999", Value: res.A2V.P999, Unit: "ms", Verdict: "info"})
	rep.add(Figure{Phase: phase, Name: "visitor messages sent/s", Value: float64(res.Sent) / secs, Unit: "msg/s",
		Target: fmt.Sprintf("= -rate %.0f", o.rate), Ratio: float64(res.Sent) / secs / o.rate, Baseline: "-rate",
		Verdict: atLeast(float64(res.Sent)/secs/o.rate, 0.98)})
	if res.GatewayCores >= 0 {
		f := Figure{Phase: phase, Name: "gateway CPU while sending", Value: res.GatewayCores, Unit: "cores", Verdict: "info",
			Note: fmt.Sprintf("its process from the first send to the end of the drain (%.1fs); %.0f µs per visitor message", busy.Seconds(), res.GatewayCPUus)}
		if pids := g.cpuPIDs(); len(pids) > 1 {
			f.Note = fmt.Sprintf("processes %v summed, from the first send to the end of the drain (%.1fs); %.0f µs per visitor message", pids, busy.Seconds(), res.GatewayCPUus)
		}
		if o.reply {
			f.Note += " with its answer"
			if o.rate >= 5000 {
				f.Target, f.Ratio, f.Baseline, f.Verdict = "≤ 1 core at 5000 msg/s answered", res.GatewayCores, "1 core", atMost(res.GatewayCores, 1)
			}
		}
		rep.add(f)
	}
	if res.CrossNode {
		rep.add(Figure{Phase: phase, Name: "durable messages/s (acknowledged, both ways)", Value: res.DurablePerSec, Unit: "msg/s", Verdict: "info",
			Note: fmt.Sprintf("%d visitor sends + %d agent answers acknowledged in %.1fs", res.AckedV2A, res.AckedA2V, res.DurableWindow.Seconds())})
	}
	if res.AuxCores >= 0 {
		rep.add(Figure{Phase: phase, Name: "PostgreSQL and NATS CPU while sending", Value: res.AuxCores, Unit: "cores", Verdict: "info",
			Note: fmt.Sprintf("-aux-pid %v with their children, over the gateway CPU's %.1fs", g.auxPids, busy.Seconds())})
	}
	rep.add(Figure{Phase: phase, Name: "messages delivered/s (both ways)", Value: float64(res.Delivered+res.AnswersGot) / secs, Unit: "msg/s", Verdict: "info",
		Note: fmt.Sprintf("%d v→a + %d a→v in %.1fs", res.Delivered, res.AnswersGot, secs)})
	return nil
}

// poll long-polls the visitor's events after seq.
func (g *gateway) poll(token string, after uint64, wait time.Duration) ([]byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("%s/v1/events?after=%d&wait=%g", g.base, after, wait.Seconds()))
	req.Header.Set("Authorization", "Bearer "+token)
	if err := g.hc.DoTimeout(req, resp, wait+15*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != 200 {
		return nil, fmt.Errorf("HTTP %d %.200s", resp.StatusCode(), resp.Body())
	}
	return append([]byte(nil), resp.Body()...), nil
}

// waitTimeout waits for wg at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
