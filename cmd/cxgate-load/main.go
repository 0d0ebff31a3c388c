package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cxgate/cxgate/server"
)

// options are the command line.
type options struct {
	target       string
	deployment   string
	agentTokens  []string
	pid          int   // the first -pid: the gateway whose memory the idle phase reads
	pids         []int // every -pid: gateways whose CPU time is summed
	auxPids      []int // -aux-pid: the cluster's other processes (PostgreSQL, NATS)
	agentTargets int   // with several -target URLs: how many of the last ones hold the agents
	visitors     int
	agents       int
	transport    string
	rate         float64
	duration     time.Duration
	drain        time.Duration
	reply        bool
	agentSend    string
	agentConc    int
	idle         int
	longpolls    int
	pollWait     time.Duration
	clientsChild bool
	inProcess    bool
	httpConc     int
	httpDuration time.Duration
	httpWarm     time.Duration
	httpRounds   int
	phases       []string
	noSync       bool
	jsonOut      bool
	cpuProfile   string
	memProfile   string
	goBench      string
	progress     time.Duration
}

var allPhases = []string{"idle", "longpoll", "load", "http"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("cxgate-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `cxgate-load drives a cxgate gateway with scripted chats and reports latency,
throughput and memory against the targets of DESIGN.md, each as a ratio.

Without -target it starts a gateway in a process of its own (this program
again; demo setup, rate limits off, -agents agents with 99 chats each, a
temporary data dir removed at exit): the clients run in this process and the
http phase's bare fiber baseline in a third, and the gateway's CPU time is read
from /proc. -in-process runs the gateway in this process instead, as before.

Phases (-run): idle (memory per idle socket), longpoll (N parked long-polls),
load (visitor/agent conversations over sockets or long-poll), http (durable
sendMessage vs a bare fiber handler). -idle N alone runs idle, -longpolls N
alone runs longpoll; otherwise the default is load,http.

Examples:
  cxgate-load -visitors 200 -agents 4 -rate 5000 -duration 10s -transport ws
  cxgate-load -idle 10000
  cxgate-load -longpolls 10000
  cxgate-load -run http -http-conc 64
  cxgate-load -run all -json > bench.json

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.target, "target", "", "`URL` of a running gateway (http://127.0.0.1:8080), or a comma-separated list of a cluster's gateways: the load phase's agents connect to the last -agent-targets of them, its visitors round-robin to the others, so that messages cross nodes (the other phases use the first); empty starts one in its own process")
	fs.IntVar(&o.agentTargets, "agent-targets", 1, "with several -target URLs: how many of the last ones the agents connect to (round-robin)")
	fs.BoolVar(&o.inProcess, "in-process", false, "run the gateway and the bare fiber baseline in this process, beside the clients (the old default): client CPU and memory then count against the gateway's")
	fs.StringVar(&o.deployment, "deployment", "demo", "deployment key of visitors' chats (with -target)")
	tokens := fs.String("agent-tokens", "ann-secret", "comma-separated agent `tokens` (with -target); one socket per token")
	pids := fs.String("pid", "", "process `ids` of the -target gateways, comma-separated: their CPU time is summed; the first one's RSS is read in the idle phase")
	auxPids := fs.String("aux-pid", "", "process `ids` of the cluster's other processes (PostgreSQL's postmaster, NATS), comma-separated: their CPU time, children included, is reported beside the gateways'")
	fs.IntVar(&o.visitors, "visitors", 50, "visitor connections in the load phase")
	fs.IntVar(&o.agents, "agents", 2, "agents (one socket each)")
	fs.StringVar(&o.transport, "transport", "ws", "visitors' transport in the load phase: ws or longpoll")
	fs.Float64Var(&o.rate, "rate", 500, "visitor messages per second, all visitors together")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "sending time of the load phase")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "wait after the load for messages in flight; later ones are timeouts")
	fs.BoolVar(&o.reply, "reply", true, "agents answer every visitor message")
	fs.StringVar(&o.agentSend, "agent-send", "ws", "how agents send their answers: ws (their socket: the gateway runs one command at a time per socket) or http")
	fs.IntVar(&o.agentConc, "agent-http-conc", 16, "with -agent-send http: requests in flight per agent")
	fs.IntVar(&o.idle, "idle", 0, "idle visitor sockets of the idle phase")
	fs.IntVar(&o.longpolls, "longpolls", 0, "concurrent long-polls of the longpoll phase")
	fs.DurationVar(&o.pollWait, "poll-wait", 50*time.Second, "wait parameter of the parked long-polls (the gateway caps it at its longPollSeconds)")
	fs.BoolVar(&o.clientsChild, "clients-child", false, "run the idle sockets and long-polls in a child process even when both ends fit in this one (they always do when RLIMIT_NOFILE is too low)")
	fs.IntVar(&o.httpConc, "http-conc", 64, "concurrent HTTP clients of the http phase (each its own chat) and of the long-poll sends")
	fs.DurationVar(&o.httpDuration, "http-duration", 3*time.Second, "measured time of each side of the http ratio")
	fs.DurationVar(&o.httpWarm, "http-warm", 300*time.Millisecond, "warm-up before each side of the http ratio")
	fs.IntVar(&o.httpRounds, "http-rounds", 3, "the http ratio's sides alternate in this many rounds, -http-duration in all")
	run := fs.String("run", "", "phases to run: comma-separated of idle,longpoll,load,http or all")
	fs.BoolVar(&o.noSync, "nosync", false, "the gateway this command starts runs without fsync: a non-durable comparison")
	fs.BoolVar(&o.jsonOut, "json", false, "also print the report as JSON on stdout, after the table")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process in the measured phases to `file` (the clients; the gateway too with -in-process)")
	fs.StringVar(&o.goBench, "gobench", "", "saved output of the Go benchmarks and the long kill -9 and churn tests (`file`, as make bench writes it): their targets join the table")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of this process at the end of the measured phases to `file` (the clients; the gateway too with -in-process)")
	fs.DurationVar(&o.progress, "progress", time.Second, "progress line interval (stderr)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.pids, err = parsePIDs(*pids); err != nil {
		return nil, fmt.Errorf("-pid: %w", err)
	}
	if len(o.pids) > 0 {
		o.pid = o.pids[0]
	}
	if o.auxPids, err = parsePIDs(*auxPids); err != nil {
		return nil, fmt.Errorf("-aux-pid: %w", err)
	}
	for t := range strings.SplitSeq(*tokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.agentTokens = append(o.agentTokens, t)
		}
	}
	switch {
	case *run == "all":
		o.phases = allPhases
	case *run != "":
		for p := range strings.SplitSeq(*run, ",") {
			if !slices.Contains(allPhases, p) {
				return nil, fmt.Errorf("-run: unknown phase %q (want %s or all)", p, strings.Join(allPhases, ","))
			}
			o.phases = append(o.phases, p)
		}
	case o.idle > 0 || o.longpolls > 0:
		if o.idle > 0 {
			o.phases = append(o.phases, "idle")
		}
		if o.longpolls > 0 {
			o.phases = append(o.phases, "longpoll")
		}
	default:
		o.phases = []string{"load", "http"}
	}
	if o.has("idle") && o.idle <= 0 {
		o.idle = 1000
	}
	if o.has("longpoll") && o.longpolls <= 0 {
		o.longpolls = 1000
	}
	switch {
	case o.agentSend != "ws" && o.agentSend != "http":
		return nil, fmt.Errorf("-agent-send %q: want ws or http", o.agentSend)
	case o.transport != "ws" && o.transport != "longpoll":
		return nil, fmt.Errorf("-transport %q: want ws or longpoll", o.transport)
	case o.visitors < 1 || o.agents < 1:
		return nil, errors.New("-visitors and -agents must be at least 1")
	case o.rate <= 0 || o.duration <= 0:
		return nil, errors.New("-rate and -duration must be positive")
	case o.httpConc < 1:
		return nil, errors.New("-http-conc must be at least 1")
	case o.target == "" && o.has("load") && o.visitors > 99*o.agents:
		return nil, fmt.Errorf("%d visitors need at least %d agents (99 chats each)", o.visitors, (o.visitors+98)/99)
	case o.target != "" && o.noSync:
		return nil, errors.New("-nosync applies to the gateway this command starts only")
	case o.target != "" && o.inProcess:
		return nil, errors.New("-in-process and -target exclude each other")
	case o.target == "" && (len(o.pids) > 0 || len(o.auxPids) > 0):
		return nil, errors.New("-pid and -aux-pid apply with -target only")
	case o.agentTargets < 1:
		return nil, errors.New("-agent-targets must be at least 1")
	}
	if o.target != "" && o.agents > len(o.agentTokens) {
		o.agents = len(o.agentTokens)
	}
	return o, nil
}

func (o *options) has(phase string) bool { return slices.Contains(o.phases, phase) }

// parsePIDs reads a comma-separated list of process ids.
func parsePIDs(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	server.TuneGC() // the gateway's setting, for every side of every ratio
	switch os.Getenv(roleEnv) {
	case "echo":
		echoMain()
		return
	case "clients":
		clientMain()
		return
	case "gateway":
		gatewayMain()
		return
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cxgate-load:", err)
		os.Exit(2)
	}
	rep, err := run(o, os.Stderr)
	if rep != nil && o.goBench != "" {
		if gerr := addSavedBench(o.goBench, rep); gerr != nil && err == nil {
			err = gerr
		}
	}
	if rep != nil {
		rep.WriteTable(os.Stdout)
		if o.jsonOut {
			_ = rep.WriteJSON(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cxgate-load:", err)
		os.Exit(1)
	}
}

// run runs the selected phases and returns their report; progress goes to
// progress. A phase that fails to set up ends the run with what was measured.
func run(o *options, progress io.Writer) (rep *Report, err error) {
	rep = newReport()
	errs := newErrCounter()
	defer func() {
		m, ex := errs.snapshot()
		rep.Errors = m
		if len(ex) > 0 {
			rep.Details["error_examples"] = ex
		}
	}()
	rep.Config = map[string]any{
		"phases": o.phases, "visitors": o.visitors, "agents": o.agents, "transport": o.transport,
		"rate": o.rate, "duration": o.duration.String(), "reply": o.reply, "agent_send": o.agentSend, "idle": o.idle, "longpolls": o.longpolls,
		"http_conc": o.httpConc, "http_duration": o.httpDuration.String(), "gomaxprocs": runtime.GOMAXPROCS(0),
		"numcpu": runtime.NumCPU(), "go": runtime.Version(), "in_process": o.inProcess,
	}
	rep.NoSync = o.noSync
	need := uint64(4096 + 4*(o.visitors+o.agents+o.httpConc))
	if _, err := raiseFDLimit(need); err != nil {
		rep.warn("file descriptors: %v", err)
	}

	var g *gateway
	switch {
	case o.target != "":
		g, err = dialGateway(o)
		rep.Mode = "target " + o.target
		if err == nil && g.multi() {
			rep.Mode = "targets: visitors on " + urls(g.visitorGWs) + ", agents on " + urls(g.agentGWs)
		}
	case o.inProcess:
		g, err = startGateway(o, progress)
		rep.Mode = "in-process gateway; clients and bare fiber baseline in this process unless a figure says otherwise"
	default:
		g, err = startGatewayProc(o)
		if err == nil {
			rep.Mode = fmt.Sprintf("gateway in its own process (pid %d), clients in this one unless a figure says otherwise, bare fiber baseline in a third", g.pid)
		}
	}
	if err != nil {
		return rep, err
	}
	defer g.close()
	if !isLoopback(g.addr) {
		rep.warn("the gateway %s is not on loopback: latencies include the network", g.addr)
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return rep, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return rep, err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	// phase runs fn and notes the CPU the machine spent meanwhile: this
	// process's, the gateway's when it runs apart, and the rest.
	cpu := map[string]cpuUse{}
	rep.Details["cpu"] = cpu
	phase := func(name string, fn func() error) error {
		a := readCPUs(g.cpuPIDs(), g.auxPids)
		helper := g.helperCPU
		err := fn()
		u := cpuBetween(a, readCPUs(g.cpuPIDs(), g.auxPids), g.helperCPU-helper)
		cpu[name] = u
		self := "CPU cores used by this process"
		if g.pid > 0 {
			self = "CPU cores used by the clients (this process)"
		}
		rep.add(Figure{Phase: name, Name: self, Value: u.Self, Unit: "cores", Verdict: "info",
			Note: fmt.Sprintf("other processes %.2f, idle %.2f of %d", u.Others, u.Idle, runtime.NumCPU())})
		if u.GatewayKnown {
			note := fmt.Sprintf("process %d, from /proc, over the whole phase (setup included)", g.pid)
			if pids := g.cpuPIDs(); len(pids) > 1 {
				note = fmt.Sprintf("processes %v summed, from /proc, over the whole phase (setup included)", pids)
			}
			rep.add(Figure{Phase: name, Name: "CPU cores used by the gateway", Value: u.Gateway, Unit: "cores", Verdict: "info", Note: note})
		}
		if u.AuxKnown {
			rep.add(Figure{Phase: name, Name: "CPU cores used by PostgreSQL and NATS", Value: u.Aux, Unit: "cores", Verdict: "info",
				Note: fmt.Sprintf("-aux-pid %v with their children, from /proc, over the whole phase", g.auxPids)})
		}
		if u.Others > 0.25 {
			rep.warn("%s: other processes used %.2f cores of %d meanwhile (this one %.2f): figures are pessimistic", name, u.Others, runtime.NumCPU(), u.Self)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}

	// Memory first, on a fresh gateway; agents join only for the phases
	// that need them.
	if o.has("idle") {
		if err := phase("idle", func() error { return runIdle(o, g, errs, rep, progress) }); err != nil {
			return rep, err
		}
	}
	if o.has("longpoll") {
		if err := phase("longpoll", func() error { return runLongPolls(o, g, errs, rep, progress) }); err != nil {
			return rep, err
		}
	}
	if o.has("load") || o.has("http") {
		conc := 0
		if o.agentSend == "http" {
			conc = max(1, o.agentConc)
		}
		f, err := connectFleet(g, o.agents, conc, errs)
		if err != nil {
			return rep, fmt.Errorf("agents: %w", err)
		}
		defer f.close()
		if o.has("load") {
			fmt.Fprintf(progress, "load: %d visitors over %s, %d agents answering over %s, %.0f msg/s for %v\n", o.visitors, o.transport, o.agents, o.agentSend, o.rate, o.duration)
			if err := phase("load", func() error { return runLoad(o, g, f, errs, rep, progress) }); err != nil {
				return rep, err
			}
		}
		if o.has("http") {
			fmt.Fprintf(progress, "http: bare fiber vs sendMessage, %d concurrent clients, %v each\n", o.httpConc, o.httpDuration)
			if err := phase("http", func() error { return runHTTP(o, g, errs, rep) }); err != nil {
				return rep, err
			}
		}
	}
	if o.memProfile != "" && !o.has("idle") { // idle writes it with its sockets open
		if err := writeHeapProfile(o.memProfile); err != nil {
			return rep, err
		}
	}
	n := float64(errs.total())
	rep.add(Figure{Phase: "all", Name: "errors (rejections, drops, timeouts)", Value: n, Target: "= 0", Verdict: atMost(n, 0)})
	return rep, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncWriter serializes writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
