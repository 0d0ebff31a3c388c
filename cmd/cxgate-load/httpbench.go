package main

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// httpRun is a closed-loop HTTP measurement: conc workers, each posting one
// request after the other.
type httpRun struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	Latency  summary `json:"latency"`
	CPUus    float64 `json:"cpu_us_per_request"` // this process (client, and server when in-process), per request
	// ServerCPUus is the server's process CPU time per request, when the
	// server runs in its own process (0 otherwise).
	ServerCPUus float64 `json:"server_cpu_us_per_request,omitempty"`
	cpu         float64
	serverCPU   float64
	serverKnown bool // in every round merged
	rounds      int
	lat         []time.Duration
}

// merge adds another round of the same side.
func (r *httpRun) merge(o httpRun) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.lat = append(r.lat, o.lat...)
	r.cpu += o.cpu
	r.serverCPU += o.serverCPU
	r.rounds++
	r.serverKnown = o.serverKnown && (r.rounds == 1 || r.serverKnown)
	if r.Seconds > 0 {
		r.Rate = float64(r.Requests) / r.Seconds
	}
	if r.Requests > 0 {
		r.CPUus = r.cpu / float64(r.Requests) * 1e6
		if r.serverKnown {
			r.ServerCPUus = r.serverCPU / float64(r.Requests) * 1e6
		}
	}
	slices.Sort(r.lat)
	r.Latency = summarize(r.lat)
}

// driveHTTP posts to uri from one worker per token for d, after a warm-up
// of warm; worker i sends tokens[i] and the body body(i, n). Only requests
// that start and end inside the window count. serverPID is the server's
// process when it is not this one (0: none), whose CPU time over the window
// is the server's cost.
func driveHTTP(hc *fasthttp.HostClient, uri string, tokens []string, warm, d time.Duration, body func(i, n int) []byte, errs *errCounter, what string, serverPID int) httpRun {
	var (
		count, failed atomic.Int64
		rec           recorder
		wg            sync.WaitGroup
		seq           atomic.Int64
	)
	start := time.Now()
	mStart := start.Add(warm)
	end := mStart.Add(d)
	// The timer's goroutine hands its sample over a channel: the reader
	// needs that edge to see it.
	cpuAtStart := make(chan cpuSample, 1)
	cpuTimer := time.AfterFunc(warm, func() { cpuAtStart <- readCPU(serverPID) })
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				req.Reset()
				req.SetRequestURI(uri)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType("application/json")
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				req.SetBody(body(i, int(seq.Add(1))))
				err := hc.DoTimeout(req, resp, 15*time.Second)
				t1 := time.Now()
				if t0.Before(mStart) || t1.After(end) {
					continue // warm-up, or past the window
				}
				if err != nil || resp.StatusCode() != 200 {
					failed.Add(1)
					ex := ""
					if err != nil {
						ex = err.Error()
					} else {
						ex = fmt.Sprintf("HTTP %d %.120s", resp.StatusCode(), resp.Body())
					}
					errs.add("http_error", 1, what+": "+ex)
					continue
				}
				count.Add(1)
				rec.add(t1.Sub(t0))
			}
		}()
	}
	time.Sleep(time.Until(end))
	cpu1 := readCPU(serverPID)
	waitTimeout(&wg, warm+d+30*time.Second)
	cpu0 := cpu1
	if !cpuTimer.Stop() {
		cpu0 = <-cpuAtStart
	}
	r := httpRun{Requests: count.Load(), Errors: failed.Load(), Seconds: d.Seconds(), lat: rec.sorted()}
	r.cpu = cpu1.self - cpu0.self
	if cpu0.gatewayOK && cpu1.gatewayOK {
		r.serverCPU, r.serverKnown = cpu1.gateway-cpu0.gateway, true
	}
	r.Rate = float64(r.Requests) / r.Seconds
	r.Latency = summarize(r.lat)
	return r
}

// bareCommand serves POST /v1/command on app with a small fixed JSON answer:
// the baseline of the HTTP ratio, in this process (-in-process) or in the
// echo child.
func bareCommand(app *fiber.App) {
	answer := []byte(`{"status":"resolved","data":{"seq":12,"index":12,"timestamp":1763730000000}}`)
	app.Post("/v1/command", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(answer)
	})
}

// startBareFiber serves bareCommand on 127.0.0.1:0 in this process.
func startBareFiber() (addr string, stop func(), err error) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	bareCommand(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() { _ = app.Listener(ln) }()
	return ln.Addr().String(), func() { _ = app.ShutdownWithTimeout(5 * time.Second) }, nil
}

// runHTTP measures durable WebChatService.sendMessage over HTTP against a
// bare fiber handler, same client, same concurrency, same duration.
func runHTTP(o *options, g *gateway, errs *errCounter, rep *Report) error {
	vs, err := g.startChats(o.httpConc, 32, "http")
	if err != nil {
		return fmt.Errorf("start chats: %w", err)
	}
	defer g.endChats(vs, 32)
	tokens := make([]string, len(vs))
	for i, v := range vs {
		tokens[i] = v.token
	}
	run := time.Now().UnixNano()
	body := func(i, n int) []byte { // every requestId new: no retry shortcut
		return fmt.Appendf(nil, `{"command":"WebChatService.sendMessage","options":{"message":"h%d-%d hello, where is my order?","requestId":"cxload-%d-h%d-%d"}}`, i, n, run, i, n)
	}
	// The baseline runs where the gateway does: in a process of its own
	// (the echo child, which serves the same handler), or in this one.
	var (
		addr    string
		barePID int
	)
	if g.srv != nil {
		var stop func()
		if addr, stop, err = startBareFiber(); err != nil {
			return err
		}
		defer stop()
	} else {
		echo, err := spawnEcho(uint64(4096 + 2*o.httpConc))
		if err != nil {
			return fmt.Errorf("bare fiber process: %w", err)
		}
		defer func() { g.helperCPU += echo.stop() }()
		addr, barePID = echo.addr, echo.pid()
	}
	// The same client configuration for both sides of the ratio, and the
	// sides alternate in rounds so that a neighbour's burst of CPU does not
	// land on one side only.
	fhc := newHTTPClient(addr, max(1024, o.httpConc))
	ghc := newHTTPClient(g.addr, max(1024, o.httpConc))
	defer fhc.CloseIdleConnections()
	defer ghc.CloseIdleConnections()
	rounds := max(1, o.httpRounds)
	var bare, send httpRun
	var st storeUse
	for range rounds {
		bare.merge(driveHTTP(fhc, "http://"+addr+"/v1/command", tokens, o.httpWarm, o.httpDuration/time.Duration(rounds), body, errs, "bare fiber", barePID))
		stats := g.storeStats()
		send.merge(driveHTTP(ghc, g.base+"/v1/command", tokens, o.httpWarm, o.httpDuration/time.Duration(rounds), body, errs, "sendMessage", g.pid))
		if u := stats(); u != nil {
			st.Commits += u.Commits
			st.Writes += u.Writes
			st.BusyPerTxMs += u.BusyPerTxMs * float64(u.Commits)
			st.WriterBusyPart += u.WriterBusyPart / float64(rounds)
		}
	}
	if st.Commits > 0 {
		st.WritesPerTx = float64(st.Writes) / float64(st.Commits)
		st.BusyPerTxMs /= float64(st.Commits)
	}

	if send.Errors > send.Requests {
		rep.warn("http: most sendMessage requests failed (%d of %d); a -target gateway must run with limits ratePerIP and ratePerToken -1", send.Errors, send.Errors+send.Requests)
	}
	if g.srv == nil && g.pid <= 0 {
		rep.warn("http: with -target and no -pid the gateway's CPU per request is not known")
	}
	rep.Details["http"] = map[string]any{"bare_fiber": bare, "sendMessage": send, "concurrency": o.httpConc, "rounds": rounds, "store": st}
	durable := "durable"
	if o.noSync {
		durable = "NOT durable (-nosync)"
	}
	ratio := 0.0
	if bare.Rate > 0 {
		ratio = send.Rate / bare.Rate
	}
	phase := fmt.Sprintf("http/c%d", o.httpConc)
	cpuNote := func(r httpRun) string {
		if r.serverKnown {
			return fmt.Sprintf("server %.0f µs, client %.0f µs CPU per request", r.ServerCPUus, r.CPUus)
		}
		if g.srv != nil {
			return fmt.Sprintf("%.0f µs CPU per request (client+server, one process)", r.CPUus)
		}
		return fmt.Sprintf("client %.0f µs CPU per request", r.CPUus)
	}
	rep.add(Figure{Phase: phase, Name: "bare fiber POST rate", Value: bare.Rate, Unit: "req/s", Verdict: "baseline",
		Note: fmt.Sprintf("p50 %.2fms p99 %.2fms; %s; %d rounds alternating with sendMessage", bare.Latency.P50, bare.Latency.P99, cpuNote(bare), rounds)})
	rep.add(Figure{Phase: phase, Name: "sendMessage rate", Value: send.Rate, Unit: "req/s", Target: "≥ 30% of bare fiber",
		Ratio: ratio, Baseline: "bare fiber", Verdict: atLeast(ratio, 0.30),
		Note: fmt.Sprintf("%s; p50 %.2fms p99 %.2fms; %s", durable, send.Latency.P50, send.Latency.P99, cpuNote(send))})
	if send.serverKnown {
		note := "gateway process CPU time (/proc) over the sends measured"
		if bare.serverKnown {
			note += fmt.Sprintf("; bare fiber handler %.1f µs", bare.ServerCPUus)
		}
		rep.add(Figure{Phase: phase, Name: "server CPU per durable send", Value: send.ServerCPUus, Unit: "µs", Target: "≤ 30 µs",
			Ratio: send.ServerCPUus / 30, Baseline: "30 µs", Verdict: atMost(send.ServerCPUus, 30), Note: note})
	} else {
		rep.add(Figure{Phase: phase, Name: "server CPU per durable send", Value: nanValue(), Unit: "µs", Target: "≤ 30 µs", Verdict: "n/a",
			Note: "the gateway is not in a process of its own (-in-process, or -target without -pid)"})
	}
	if st.Commits > 0 {
		rep.add(Figure{Phase: phase, Name: "store: writes per commit (sendMessage)", Value: st.WritesPerTx, Verdict: "info",
			Note: fmt.Sprintf("%.2f ms in the transaction per commit; writer busy %.0f%% of the time", st.BusyPerTxMs, 100*st.WriterBusyPart)})
	}
	return nil
}
