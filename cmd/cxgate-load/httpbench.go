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
	CPUus    float64 `json:"cpu_us_per_request"` // this process (client and server), per request
	cpu      float64
	lat      []time.Duration
}

// merge adds another round of the same side.
func (r *httpRun) merge(o httpRun) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.lat = append(r.lat, o.lat...)
	r.cpu += o.cpu
	if r.Seconds > 0 {
		r.Rate = float64(r.Requests) / r.Seconds
	}
	if r.Requests > 0 {
		r.CPUus = r.cpu / float64(r.Requests) * 1e6
	}
	slices.Sort(r.lat)
	r.Latency = summarize(r.lat)
}

// driveHTTP posts to uri from one worker per token for d, after a warm-up
// of warm; worker i sends tokens[i] and the body body(i, n). Only requests
// that start and end inside the window count.
func driveHTTP(hc *fasthttp.HostClient, uri string, tokens []string, warm, d time.Duration, body func(i, n int) []byte, errs *errCounter, what string) httpRun {
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
	cpuTimer := time.AfterFunc(warm, func() { cpuAtStart <- readCPU() })
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
	cpu1 := readCPU()
	waitTimeout(&wg, warm+d+30*time.Second)
	cpu0 := cpu1
	if !cpuTimer.Stop() {
		cpu0 = <-cpuAtStart
	}
	r := httpRun{Requests: count.Load(), Errors: failed.Load(), Seconds: d.Seconds(), lat: rec.sorted()}
	r.cpu = cpu1.self - cpu0.self
	r.Rate = float64(r.Requests) / r.Seconds
	r.Latency = summarize(r.lat)
	return r
}

// startBareFiber serves POST /v1/command with a small fixed JSON answer on
// 127.0.0.1:0: the baseline of the HTTP ratio.
func startBareFiber() (addr string, stop func(), err error) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	answer := []byte(`{"status":"resolved","data":{"seq":12,"index":12,"timestamp":1763730000000}}`)
	app.Post("/v1/command", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(answer)
	})
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
	addr, stop, err := startBareFiber()
	if err != nil {
		return err
	}
	defer stop()
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
		bare.merge(driveHTTP(fhc, "http://"+addr+"/v1/command", tokens, o.httpWarm, o.httpDuration/time.Duration(rounds), body, errs, "bare fiber"))
		stats := g.storeStats()
		send.merge(driveHTTP(ghc, g.base+"/v1/command", tokens, o.httpWarm, o.httpDuration/time.Duration(rounds), body, errs, "sendMessage"))
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
	if g.srv == nil {
		rep.warn("http: with -target the CPU per request counts the client side only")
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
	rep.add(Figure{Phase: phase, Name: "bare fiber POST rate", Value: bare.Rate, Unit: "req/s", Verdict: "baseline",
		Note: fmt.Sprintf("p50 %.2fms p99 %.2fms; %.0f µs CPU per request (client+server); %d rounds alternating with sendMessage", bare.Latency.P50, bare.Latency.P99, bare.CPUus, rounds)})
	rep.add(Figure{Phase: phase, Name: "sendMessage rate", Value: send.Rate, Unit: "req/s", Target: "≥ 30% of bare fiber",
		Ratio: ratio, Baseline: "bare fiber", Verdict: atLeast(ratio, 0.30),
		Note: fmt.Sprintf("%s; p50 %.2fms p99 %.2fms; %.0f µs CPU per request (client+server)", durable, send.Latency.P50, send.Latency.P99, send.CPUus)})
	if st.Commits > 0 {
		rep.add(Figure{Phase: phase, Name: "store: writes per commit (sendMessage)", Value: st.WritesPerTx, Verdict: "info",
			Note: fmt.Sprintf("%.2f ms in the transaction per commit; writer busy %.0f%% of the time", st.BusyPerTxMs, 100*st.WriterBusyPart)})
	}
	return nil
}
