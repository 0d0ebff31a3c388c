package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/store"
)

// gateway is the system under test: in a child process of its own (proc
// set, the default), in-process (srv set, -in-process) or a running one
// reached at base (-target).
type gateway struct {
	base        string // "http://127.0.0.1:PORT"
	addr        string // "127.0.0.1:PORT"
	wsURL       string
	deployment  string
	agentTokens []string
	srv         *server.Server // -in-process only
	proc        *gatewayProc   // the default: the gateway's own process
	pid         int            // the gateway's process when not this one (the child's, or -pid); 0 unknown
	dir         string         // in-process data directory, removed by close
	hc          *fasthttp.HostClient
	// helperCPU is the CPU time, s, of the helper processes this run
	// started and stopped (the bare servers of the baselines), so that a
	// phase does not count it as a neighbour's.
	helperCPU float64
	// With several -target URLs (a cluster's nodes): where the load
	// phase's visitors and agents connect, round-robin. Both hold g alone
	// otherwise; g itself is the first target.
	visitorGWs, agentGWs []*gateway
	pids                 []int // every -pid (CPU summed); pid is the first
	auxPids              []int // -aux-pid: PostgreSQL, NATS
}

// visitorGW is the gateway of the load phase's visitor i.
func (g *gateway) visitorGW(i int) *gateway { return g.visitorGWs[i%len(g.visitorGWs)] }

// agentGW is the gateway of agent i.
func (g *gateway) agentGW(i int) *gateway { return g.agentGWs[i%len(g.agentGWs)] }

// multi reports whether the load phase spans several gateways.
func (g *gateway) multi() bool {
	return len(g.visitorGWs) > 1 || len(g.agentGWs) > 1 || g.visitorGWs[0] != g.agentGWs[0]
}

// cpuPIDs are the gateway processes whose CPU time counts.
func (g *gateway) cpuPIDs() []int {
	if len(g.pids) > 0 {
		return g.pids
	}
	if g.pid > 0 {
		return []int{g.pid}
	}
	return nil
}

// urls lists the gateways' base URLs.
func urls(gs []*gateway) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = g.base
	}
	return strings.Join(s, ",")
}

// startGatewayProc starts the gateway in a child process: the setup of
// startGateway, in that process.
func startGatewayProc(o *options) (*gateway, error) {
	p, err := spawnGateway(o, uint64(4096+4*(o.visitors+o.agents+o.httpConc)+2*max(o.idle, o.longpolls)))
	if err != nil {
		return nil, err
	}
	g := &gateway{addr: p.addr, deployment: "demo", proc: p, pid: p.pid()}
	for i := range max(o.agents, 1) {
		g.agentTokens = append(g.agentTokens, agentToken(i))
	}
	g.init(o)
	return g, nil
}

// measured reports whether the gateway's memory, sockets and store can be
// read: it is in-process or this run's child.
func (g *gateway) measured() bool { return g.srv != nil || g.proc != nil }

// mem reads the gateway's memory after a full GC; for the in-process
// gateway that is this whole process's.
func (g *gateway) mem() (mem, error) {
	switch {
	case g.srv != nil:
		return readMem(), nil
	case g.proc != nil:
		return g.proc.mem()
	}
	return mem{}, errors.New("the gateway's memory is not readable with -target")
}

// sockets is the number of sockets open at the gateway; -1 when unknown.
func (g *gateway) sockets() int {
	switch {
	case g.srv != nil:
		return g.srv.Sockets()
	case g.proc != nil:
		if n, err := g.proc.sockets(); err == nil {
			return n
		}
	}
	return -1
}

// cpu is the gateway processes' CPU time so far, s, summed; false when it
// is this process or unknown.
func (g *gateway) cpu() (float64, bool) {
	pids := g.cpuPIDs()
	if len(pids) == 0 {
		return 0, false
	}
	var sum float64
	for _, pid := range pids {
		s, err := procCPU(pid)
		if err != nil {
			return 0, false
		}
		sum += s
	}
	return sum, true
}

// auxCPU is the -aux-pid processes' CPU time so far with their children, s;
// false when there are none or one is unreadable.
func (g *gateway) auxCPU() (float64, bool) {
	if len(g.auxPids) == 0 {
		return 0, false
	}
	var sum float64
	for _, pid := range g.auxPids {
		s, err := procTreeCPU(pid)
		if err != nil {
			return 0, false
		}
		sum += s
	}
	return sum, true
}

// agentToken is the token of in-process agent i.
func agentToken(i int) string { return fmt.Sprintf("load-agent-token-%04d", i) }

// startGateway starts a gateway in-process with the demo setup adapted for
// load: rate limits off, agents agents with 99 chats each, a fresh data dir.
func startGateway(o *options, logw io.Writer) (*gateway, error) {
	dir, err := os.MkdirTemp("", "cxgate-load-")
	if err != nil {
		return nil, err
	}
	cfg := config.Demo()
	cfg.Data = dir
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Limits.ChatsPerIPPerMinute, cfg.Limits.ConnectionsPerIP, cfg.Limits.StoreBytesPerMinute = -1, -1, -1
	cfg.Agents = nil
	for i := range max(o.agents, 1) {
		cfg.Agents = append(cfg.Agents, config.Agent{
			ID: fmt.Sprintf("load-agent-%04d", i), Name: fmt.Sprintf("Load agent %d", i),
			Token: agentToken(i), Kind: config.KindHuman, MaxChats: 99,
		})
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, server.Options{Logger: logger, NoSync: o.noSync})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = srv.Shutdown(context.Background())
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { _ = srv.Serve(ln) }()
	g := &gateway{addr: ln.Addr().String(), deployment: "demo", srv: srv, dir: dir}
	for _, a := range cfg.Agents {
		g.agentTokens = append(g.agentTokens, a.Token)
	}
	g.init(o)
	return g, nil
}

// dialGateway reaches the running gateways of -target: with several, the
// agents go to the last -agent-targets, the visitors to the others.
func dialGateway(o *options) (*gateway, error) {
	var gs []*gateway
	for t := range strings.SplitSeq(o.target, ",") {
		t = strings.TrimSpace(t)
		u, err := url.Parse(t)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("-target %q: want http://HOST:PORT", t)
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
		gs = append(gs, &gateway{addr: host, deployment: o.deployment, agentTokens: o.agentTokens})
	}
	g := gs[0]
	g.pid, g.pids, g.auxPids = o.pid, o.pids, o.auxPids
	if len(gs) > 1 {
		if o.agentTargets >= len(gs) {
			return nil, fmt.Errorf("-agent-targets %d leaves no -target for the visitors (%d targets)", o.agentTargets, len(gs))
		}
		cut := len(gs) - o.agentTargets
		g.visitorGWs, g.agentGWs = gs[:cut], gs[cut:]
	}
	for _, x := range gs {
		x.init(o)
	}
	return g, nil
}

func (g *gateway) init(o *options) {
	g.base = "http://" + g.addr
	g.wsURL = "ws://" + g.addr + "/v1/ws"
	g.hc = newHTTPClient(g.addr, max(1024, 2*o.visitors+o.httpConc+o.agents*o.agentConc+64))
	if g.visitorGWs == nil {
		g.visitorGWs = []*gateway{g}
	}
	if g.agentGWs == nil {
		g.agentGWs = []*gateway{g}
	}
}

// newHTTPClient is the one HTTP client configuration of every figure (the
// gateway and the bare fiber baseline alike): fasthttp, keep-alive, up to
// maxConns connections, waiting for a free one rather than failing.
func newHTTPClient(addr string, maxConns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                addr,
		MaxConns:            maxConns,
		MaxConnWaitTimeout:  10 * time.Second,
		ReadTimeout:         90 * time.Second,
		WriteTimeout:        10 * time.Second,
		MaxIdleConnDuration: 60 * time.Second,
	}
}

func (g *gateway) close() {
	g.hc.CloseIdleConnections()
	for _, x := range append(g.visitorGWs, g.agentGWs...) {
		if x != g {
			x.hc.CloseIdleConnections()
		}
	}
	if g.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = g.srv.Shutdown(ctx)
	}
	if g.proc != nil {
		g.proc.stop()
	}
	if g.dir != "" {
		os.RemoveAll(g.dir)
	}
}

// reply is a command's answer over HTTP.
type reply struct {
	status   int    // HTTP status
	resolved bool   // "status":"resolved"
	code     string // the rejection's code
	data     []byte // the resolved data, copied
}

// command posts body to /v1/command with token (none when empty).
func (g *gateway) command(token string, body []byte, timeout time.Duration) (reply, error) {
	return postCommand(g.hc, g.base+"/v1/command", token, body, timeout)
}

func postCommand(hc *fasthttp.HostClient, uri, token string, body []byte, timeout time.Duration) (reply, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.SetBody(body)
	if err := hc.DoTimeout(req, resp, timeout); err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode()}
	var p fastjson.Parser
	v, err := p.ParseBytes(resp.Body())
	if err != nil {
		return r, fmt.Errorf("HTTP %d, body is not JSON: %.200q", r.status, resp.Body())
	}
	r.resolved = string(v.GetStringBytes("status")) == "resolved"
	r.code = string(v.GetStringBytes("error", "code"))
	if d := v.Get("data"); d != nil {
		r.data = d.MarshalTo(nil)
	}
	return r, nil
}

// visitor is one started chat.
type visitor struct {
	idx    int
	chatID string
	token  string
	seq    uint64   // the chat's last seq at start
	gw     *gateway // where it started and connects
}

// startChat starts a chat for visitor idx.
func (g *gateway) startChat(idx int, tag string) (visitor, error) {
	body := fmt.Appendf(nil, `{"deployment":%q,"command":"WebChatService.startChat","options":{"nickname":"%s-%d","subject":"load","requestId":"cxgate-load-%s-%d-%d"}}`,
		g.deployment, tag, idx, tag, idx, time.Now().UnixNano())
	r, err := g.command("", body, 15*time.Second)
	if err != nil {
		return visitor{}, err
	}
	if !r.resolved {
		return visitor{}, fmt.Errorf("startChat: HTTP %d %s", r.status, r.code)
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(r.data)
	if err != nil {
		return visitor{}, err
	}
	vis := visitor{idx: idx, chatID: string(v.GetStringBytes("chatId")), token: string(v.GetStringBytes("token")), seq: v.GetUint64("seq"), gw: g}
	if vis.token == "" || vis.chatID == "" {
		return visitor{}, fmt.Errorf("startChat: no chatId or token in %s", r.data)
	}
	return vis, nil
}

// startChats starts n chats with conc requests in flight.
func (g *gateway) startChats(n, conc int, tag string) ([]visitor, error) {
	return startChatsOn(func(int) *gateway { return g }, n, conc, tag)
}

// startChatsOn starts n chats, chat i on gateway on(i).
func startChatsOn(on func(i int) *gateway, n, conc int, tag string) ([]visitor, error) {
	out := make([]visitor, n)
	err := parallel(n, conc, func(i int) error {
		v, err := on(i).startChat(i, tag)
		out[i] = v
		return err
	})
	return out, err
}

// endChats ends the chats, each on the gateway it started on, ignoring
// failures (a chat may have ended already).
func (g *gateway) endChats(vs []visitor, conc int) {
	_ = parallel(len(vs), conc, func(i int) error {
		if vs[i].token != "" {
			gw := vs[i].gw
			if gw == nil {
				gw = g
			}
			_, _ = gw.command(vs[i].token, []byte(`{"command":"WebChatService.endChat"}`), 15*time.Second)
		}
		return nil
	})
}

// parallel runs fn(0..n-1) on conc goroutines and returns the first error.
func parallel(n, conc int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	conc = max(1, min(conc, n))
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	errs := make(chan error, conc)
	for range conc {
		go func() {
			var first error
			for i := range next {
				if err := fn(i); err != nil && first == nil {
					first = fmt.Errorf("#%d: %w", i, err)
				}
			}
			errs <- first
		}()
	}
	var errOut error
	for range conc {
		if err := <-errs; err != nil && errOut == nil {
			errOut = err
		}
	}
	return errOut
}

// raiseFDLimit makes room for need file descriptors. Go raises the soft
// limit to the hard one at start; as root the hard limit can go higher.
func raiseFDLimit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed past the hard limit: take what there is.
		lim.Cur = lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err2 != nil {
			return 0, errors.Join(err, err2)
		}
		return lim.Cur, fmt.Errorf("RLIMIT_NOFILE: wanted %d, got %d: %w", need, lim.Cur, err)
	}
	return need, nil
}

// isLoopback reports whether the gateway is on this machine's loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// storeUse is the store writer's work during a phase (in-process only).
type storeUse struct {
	Commits        uint64  `json:"commits"`
	Writes         uint64  `json:"writes"`
	WritesPerTx    float64 `json:"writes_per_commit"`
	BusyPerTxMs    float64 `json:"busy_ms_per_commit"`
	WriterBusyPart float64 `json:"writer_busy_fraction"` // of the phase's wall time
}

// writerStats reads the store's counters of the in-process or child gateway.
func (g *gateway) writerStats() (store.Stats, bool) {
	switch {
	case g.srv != nil:
		return g.srv.Store().Stats(), true
	case g.proc != nil:
		c, w, busy, err := g.proc.stats()
		return store.Stats{Commits: c, Writes: w, Busy: busy}, err == nil
	}
	return store.Stats{}, false
}

// storeStats returns a function that reports the store's work since the
// call; nil figures for a -target gateway.
func (g *gateway) storeStats() func() *storeUse {
	a, ok := g.writerStats()
	if !ok {
		return func() *storeUse { return nil }
	}
	t0 := time.Now()
	return func() *storeUse {
		b, ok := g.writerStats()
		if !ok {
			return nil
		}
		u := &storeUse{Commits: b.Commits - a.Commits, Writes: b.Writes - a.Writes}
		if u.Commits > 0 {
			u.WritesPerTx = float64(u.Writes) / float64(u.Commits)
			u.BusyPerTxMs = ms(b.Busy-a.Busy) / float64(u.Commits)
		}
		u.WriterBusyPart = (b.Busy - a.Busy).Seconds() / time.Since(t0).Seconds()
		return u
	}
}
