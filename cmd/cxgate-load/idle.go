package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fastjson"
)

// mem is a memory reading after a full GC with memory returned to the OS.
type mem struct {
	HeapStack  uint64 `json:"heap_stack_bytes"` // HeapInuse + StackInuse
	Stack      uint64 `json:"stack_bytes"`      // StackInuse
	RSS        uint64 `json:"rss_bytes"`        // VmRSS
	Goroutines int    `json:"goroutines"`
}

func readMem() mem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := procRSS("self")
	return mem{HeapStack: ms.HeapInuse + ms.StackInuse, Stack: ms.StackInuse, RSS: rss, Goroutines: runtime.NumGoroutine()}
}

// procRSS reads VmRSS of /proc/PID/status ("self" for this process).
func procRSS(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%s/status", pid)
}

// perConn is (b - a) / n in KiB; negative deltas are reported as they are.
func perConn(a, b uint64, n int) float64 {
	return (float64(b) - float64(a)) / float64(n) / 1024
}

// The echo role: a bare fiber + WebSocket server in a child process, so the
// parent's memory delta while its clients are connected to it is the
// clients' alone.
const roleEnv = "CXGATE_LOAD_ROLE"

// echoMain runs the child: it prints "ADDR host:port", then answers "mem"
// lines on stdin with "MEM heapstack rss" until stdin ends.
func echoMain() {
	if n, _ := strconv.ParseUint(os.Getenv("CXGATE_LOAD_FDS"), 10, 64); n > 0 {
		_, _ = raiseFDLimit(n)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	answer := []byte(`{"id":0,"status":"resolved","data":{"kind":"visitor"}}`)
	app.Get("/v1/ws", websocket.New(func(c *websocket.Conn) {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			if err := c.WriteMessage(websocket.TextMessage, answer); err != nil {
				return
			}
		}
	}, websocket.Config{ReadBufferSize: 4096, WriteBufferSize: 4096})) // as the gateway's
	bareCommand(app) // the http phase's baseline, when it runs apart from the clients
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	go func() { _ = app.Listener(ln) }()
	fmt.Println("ADDR", ln.Addr().String())
	go func() {
		time.Sleep(30 * time.Minute) // never outlive a forgotten parent
		os.Exit(2)
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "mem" {
			m := readMem()
			fmt.Println("MEM", m.HeapStack, m.RSS)
		}
	}
	os.Exit(0)
}

// echoChild is the parent's handle on the echo child.
type echoChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func spawnEcho(fds uint64) (*echoChild, error) {
	cmd, in, out, err := spawnChild("echo", fds)
	if err != nil {
		return nil, err
	}
	e := &echoChild{cmd: cmd, in: in, out: out}
	line, err := e.line(10 * time.Second)
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		e.stop()
		return nil, fmt.Errorf("echo child: %q %v", line, err)
	}
	e.addr = strings.TrimPrefix(line, "ADDR ")
	return e, nil
}

func (e *echoChild) line(timeout time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		if e.out.Scan() {
			got <- e.out.Text()
		} else {
			got <- ""
		}
	}()
	select {
	case l := <-got:
		if l == "" {
			return "", fmt.Errorf("echo child ended")
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("echo child silent for %v", timeout)
	}
}

func (e *echoChild) mem() (mem, error) {
	if _, err := io.WriteString(e.in, "mem\n"); err != nil {
		return mem{}, err
	}
	l, err := e.line(30 * time.Second)
	if err != nil {
		return mem{}, err
	}
	var m mem
	if _, err := fmt.Sscanf(l, "MEM %d %d", &m.HeapStack, &m.RSS); err != nil {
		return mem{}, fmt.Errorf("echo child: %q: %w", l, err)
	}
	return m, nil
}

func (e *echoChild) pid() int { return e.cmd.Process.Pid }

// stop ends the child and returns the CPU time it used, s, so that a phase
// does not count it as a neighbour's.
func (e *echoChild) stop() float64 {
	e.in.Close()
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
		<-done
	}
	if st := e.cmd.ProcessState; st != nil {
		return (st.UserTime() + st.SystemTime()).Seconds()
	}
	return 0
}

// idleSet is a set of idle client sockets, each with its reader.
type idleSet struct {
	conns []*wsConn
	wg    sync.WaitGroup
}

// openIdle opens one authenticated socket per token.
func openIdle(url string, tokens []string, errs *errCounter) (*idleSet, error) {
	s := &idleSet{conns: make([]*wsConn, len(tokens))}
	err := parallel(len(tokens), 64, func(i int) error {
		ws, err := dialWS(url, tokens[i], 0)
		if err != nil {
			return err
		}
		s.conns[i] = ws
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := ws.readLoop(func(*fastjson.Value) {}); err != nil {
				errs.add("socket_drop", 1, "idle: "+err.Error())
			}
		}()
		return nil
	})
	return s, err
}

func (s *idleSet) close() {
	for _, c := range s.conns {
		if c != nil {
			c.close()
		}
	}
	waitTimeout(&s.wg, 30*time.Second)
}

// idleResult is what the idle phase measured.
type idleResult struct {
	N               int     `json:"n"`
	ClientKiB       float64 `json:"client_heap_stack_kib_per_socket"`
	ClientRSSKiB    float64 `json:"client_rss_kib_per_socket"`
	BareKiB         float64 `json:"bare_server_heap_stack_kib_per_socket"`
	BareRSSKiB      float64 `json:"bare_server_rss_kib_per_socket"`
	BothKiB         float64 `json:"measured_heap_stack_kib_per_socket"` // gateway+client, or the gateway alone with clients in a child
	BothRSSKiB      float64 `json:"measured_rss_kib_per_socket"`
	GatewayKiB      float64 `json:"gateway_heap_stack_kib_per_socket"`
	GatewayRSSKiB   float64 `json:"gateway_rss_kib_per_socket"`
	ChatKiB         float64 `json:"gateway_heap_stack_kib_per_chat"`
	GoroutinesPer   float64 `json:"measured_goroutines_per_socket"`
	BothStackKiB    float64 `json:"measured_stack_kib_per_socket"`
	ClientStackKiB  float64 `json:"client_stack_kib_per_socket"`
	ClientGorPer    float64 `json:"goroutines_per_socket_client"`
	Sockets         int     `json:"server_sockets_open"`
	InProcess       bool    `json:"in_process"`
	Clients         string  `json:"clients"` // where the gateway's visitor sockets ran
	TargetPID       int     `json:"target_pid,omitempty"`
	GatewayPID      int     `json:"gateway_pid,omitempty"` // the gateway's own process, started by this run
	TargetRSSKiBPer float64 `json:"target_rss_kib_per_socket,omitempty"`
}

// runIdle measures the gateway's memory per idle visitor socket.
func runIdle(o *options, g *gateway, errs *errCounter, rep *Report, progress io.Writer) error {
	n := o.idle
	if !fdsFor(n + 4096) {
		return fmt.Errorf("%d sockets need %d file descriptors (RLIMIT_NOFILE)", n, n+4096)
	}
	res := idleResult{N: n, InProcess: g.srv != nil, TargetPID: o.pid}
	if g.proc != nil {
		res.GatewayPID = g.pid
	}

	// 1. Client-only: the same clients against a bare server in a child
	// process; this process's delta is the clients' alone.
	echo, err := spawnEcho(uint64(n + 4096))
	if err != nil {
		return fmt.Errorf("bare echo server: %w", err)
	}
	e0, err := echo.mem()
	if err != nil {
		echo.stop()
		return err
	}
	c0 := readMem()
	fake := make([]string, n)
	for i := range fake {
		fake[i] = "bare-echo-token"
	}
	fmt.Fprintf(progress, "idle: %d client sockets to a bare fiber websocket server (child process)\n", n)
	set, err := openIdle("ws://"+echo.addr+"/v1/ws", fake, errs)
	if err != nil {
		set.close()
		echo.stop()
		return fmt.Errorf("client baseline sockets: %w", err)
	}
	time.Sleep(time.Second)
	c1 := readMem()
	e1, err := echo.mem()
	set.close()
	g.helperCPU += echo.stop()
	if err != nil {
		return err
	}
	res.ClientKiB, res.ClientRSSKiB = perConn(c0.HeapStack, c1.HeapStack, n), perConn(c0.RSS, c1.RSS, n)
	res.BareKiB, res.BareRSSKiB = perConn(e0.HeapStack, e1.HeapStack, n), perConn(e0.RSS, e1.RSS, n)
	res.ClientGorPer = float64(c1.Goroutines-c0.Goroutines) / float64(n)
	res.ClientStackKiB = perConn(c0.Stack, c1.Stack, n)
	time.Sleep(500 * time.Millisecond) // let closed sockets' goroutines end

	// 2. The gateway: chats first, then their sockets, from this process
	// when both ends of every socket fit in it, else from a child. The
	// gateway's memory is its own process's unless it runs in this one.
	var child *clientChild
	res.Clients = "this process"
	gmem := func() mem {
		m, err := g.mem()
		if err != nil && g.measured() {
			rep.warn("idle: gateway memory: %v", err)
		}
		return m
	}
	if g.srv != nil && !fdsFor(2*n+4096) || o.clientsChild {
		child, err = spawnClients(uint64(n+4096), errs)
		if err != nil {
			return fmt.Errorf("client process: %w", err)
		}
		defer child.close()
		res.Clients = "child process"
	}
	fmt.Fprintf(progress, "idle: starting %d chats\n", n)
	m0 := gmem()
	var t0 uint64
	if o.pid > 0 {
		t0, _ = procRSS(strconv.Itoa(o.pid))
	}
	vs, err := g.startChats(n, 64, "idle")
	if err != nil {
		return fmt.Errorf("start chats: %w", err)
	}
	defer g.endChats(vs, 64)
	m1 := gmem()
	base := 0
	if g.measured() {
		base = g.sockets()
	}
	tokens := make([]string, n)
	for i, v := range vs {
		tokens[i] = v.token
	}
	fmt.Fprintf(progress, "idle: opening %d visitor sockets from the %s\n", n, res.Clients)
	if child != nil {
		if _, err := child.openWS(g.wsURL, tokens); err != nil {
			return fmt.Errorf("visitor sockets: %w", err)
		}
		defer child.closeConns()
	} else {
		set, err = openIdle(g.wsURL, tokens, errs)
		if err != nil {
			set.close()
			return fmt.Errorf("visitor sockets: %w", err)
		}
		defer set.close()
	}
	if g.measured() {
		deadline := time.Now().Add(30 * time.Second)
		for g.sockets() < base+n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		res.Sockets = g.sockets() - base
	}
	time.Sleep(time.Second)
	m2 := gmem()
	res.BothKiB, res.BothRSSKiB = perConn(m1.HeapStack, m2.HeapStack, n), perConn(m1.RSS, m2.RSS, n)
	res.GoroutinesPer = float64(m2.Goroutines-m1.Goroutines) / float64(n)
	res.BothStackKiB = perConn(m1.Stack, m2.Stack, n)
	res.ChatKiB = perConn(m0.HeapStack, m1.HeapStack, n)
	if o.pid > 0 {
		t1, _ := procRSS(strconv.Itoa(o.pid))
		res.TargetRSSKiBPer = perConn(t0, t1, n)
	}
	rep.Details["idle"] = res
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			rep.warn("memprofile: %v", err)
		}
	}

	phase := fmt.Sprintf("idle/%d", n)
	if g.measured() {
		res.GatewayKiB, res.GatewayRSSKiB = res.BothKiB, res.BothRSSKiB
		gStack, gGor := res.BothStackKiB, res.GoroutinesPer
		how := "measured alone: clients in a child process"
		if g.proc != nil {
			how = "measured alone: the gateway in its own process"
		}
		howRSS := how
		if child == nil && g.srv != nil {
			res.GatewayKiB -= res.ClientKiB
			res.GatewayRSSKiB -= res.ClientRSSKiB
			gStack -= res.ClientStackKiB
			gGor -= res.ClientGorPer
			how = fmt.Sprintf("(gateway+client %.1f) − (client-only %.1f)", res.BothKiB, res.ClientKiB)
			howRSS = fmt.Sprintf("(gateway+client %.1f) − (client-only %.1f)", res.BothRSSKiB, res.ClientRSSKiB)
		}
		rep.Details["idle"] = res
		rep.add(Figure{Phase: phase, Name: "gateway heap+stack per idle socket", Value: res.GatewayKiB, Unit: "KiB", Target: "≤ 32 KiB",
			Ratio: res.GatewayKiB / 32, Baseline: "32 KiB", Verdict: atMost(res.GatewayKiB, 32),
			Note: fmt.Sprintf("%s; stacks %.1f (%.1f goroutines); bare fiber ws server %.1f", how, gStack, gGor, res.BareKiB)})
		howRSS += fmt.Sprintf("; bare fiber ws server %.1f", res.BareRSSKiB)
		rep.add(Figure{Phase: phase, Name: "gateway RSS per idle socket", Value: res.GatewayRSSKiB, Unit: "KiB", Verdict: "info", Note: howRSS})
		if res.BareKiB > 0 {
			rep.add(Figure{Phase: phase, Name: "gateway / bare ws server memory", Value: res.GatewayKiB / res.BareKiB, Unit: "×", Verdict: "info",
				Note: "heap+stack per socket"})
		}
		rep.add(Figure{Phase: phase, Name: "gateway heap per open chat (no socket)", Value: res.ChatKiB, Unit: "KiB", Verdict: "info"})
		rep.add(Figure{Phase: phase, Name: "sockets open at the gateway", Value: float64(res.Sockets), Unit: "", Target: fmt.Sprintf("= %d", n),
			Verdict: atLeast(float64(res.Sockets), float64(n))})
	} else {
		v, verdict := res.TargetRSSKiBPer, "n/a"
		note := "give -pid of the gateway to read its RSS"
		if o.pid > 0 {
			verdict, note = atMost(v, 32), "VmRSS delta of -pid: heap, stacks and runtime slack"
		} else {
			v = nanValue()
		}
		rep.add(Figure{Phase: phase, Name: "gateway RSS per idle socket", Value: v, Unit: "KiB", Target: "≤ 32 KiB", Verdict: verdict, Note: note})
		rep.add(Figure{Phase: phase, Name: "client heap+stack per socket", Value: res.ClientKiB, Unit: "KiB", Verdict: "info"})
	}
	return nil
}

func nanValue() float64 { return math.NaN() }
