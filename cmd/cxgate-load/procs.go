package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// By default the gateway runs in a process of its own: this program again,
// with roleEnv=gateway, started by spawnGateway. The clients stay in this
// process and the bare fiber baseline of the http phase runs in a third (the
// echo role), so that no figure counts one side's CPU or memory against
// another, and the gateway's CPU time can be read from /proc/PID/stat. The
// child prints "ADDR host:port" and then answers lines on its stdin:
//
//	mem     → MEM heapstack stack rss goroutines (after a full GC)
//	sockets → SOCKETS n
//	stats   → STATS commits writes busy-ns (the store's writer)
//
// It shuts the gateway down when its stdin ends, so it never outlives the
// load generator.

// Environment of the gateway role: what startGateway needs of the options.
const (
	gatewayAgentsEnv = "CXGATE_LOAD_AGENTS"
	gatewayNoSyncEnv = "CXGATE_LOAD_NOSYNC"
)

// gatewayMain is the gateway role.
func gatewayMain() {
	if n, _ := strconv.ParseUint(os.Getenv("CXGATE_LOAD_FDS"), 10, 64); n > 0 {
		_, _ = raiseFDLimit(n)
	}
	agents, _ := strconv.Atoi(os.Getenv(gatewayAgentsEnv))
	o := &options{agents: max(agents, 1), noSync: os.Getenv(gatewayNoSyncEnv) == "1", visitors: 1, httpConc: 1}
	g, err := startGateway(o, os.Stderr)
	if err != nil {
		fmt.Println("ERR", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
	fmt.Println("ADDR", g.addr)
	go func() {
		time.Sleep(2 * time.Hour) // never outlive a forgotten parent
		os.Exit(2)
	}()
	out := bufio.NewWriter(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "mem":
			m := readMem()
			fmt.Fprintln(out, "MEM", m.HeapStack, m.Stack, m.RSS, m.Goroutines)
		case "sockets":
			fmt.Fprintln(out, "SOCKETS", g.srv.Sockets())
		case "stats":
			s := g.srv.Store().Stats()
			fmt.Fprintln(out, "STATS", s.Commits, s.Writes, s.Busy.Nanoseconds())
		default:
			fmt.Fprintln(out, "ERR unknown command")
		}
		out.Flush()
	}
	g.close()
	os.Exit(0)
}

// gatewayProc is the parent's handle on the gateway child. Its requests are
// serialized: the progress line asks for sockets while a phase runs.
type gatewayProc struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

// spawnGateway starts the gateway child with o's agents and fsync setting.
func spawnGateway(o *options, fds uint64) (*gatewayProc, error) {
	nosync := "0"
	if o.noSync {
		nosync = "1"
	}
	cmd, in, out, err := spawnChild("gateway", fds,
		gatewayAgentsEnv+"="+strconv.Itoa(o.agents), gatewayNoSyncEnv+"="+nosync)
	if err != nil {
		return nil, err
	}
	p := &gatewayProc{cmd: cmd, in: in, out: out}
	// Opening the store and loading the directory: seconds at most.
	l, err := readLine(out, 60*time.Second, "gateway process")
	if err != nil || !strings.HasPrefix(l, "ADDR ") {
		p.stop()
		return nil, fmt.Errorf("gateway process: %q %v", l, err)
	}
	p.addr = strings.TrimPrefix(l, "ADDR ")
	return p, nil
}

// pid is the child's process id.
func (p *gatewayProc) pid() int { return p.cmd.Process.Pid }

// ask sends one request line and returns the fields of the answer, whose
// first must be want.
func (p *gatewayProc) ask(req, want string, n int) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.in, req+"\n"); err != nil {
		return nil, err
	}
	l, err := readLine(p.out, 60*time.Second, "gateway process")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(l)
	if len(f) != n+1 || f[0] != want {
		return nil, fmt.Errorf("gateway process: %q to %s", l, req)
	}
	return f[1:], nil
}

func (p *gatewayProc) mem() (mem, error) {
	f, err := p.ask("mem", "MEM", 4)
	if err != nil {
		return mem{}, err
	}
	var m mem
	m.HeapStack, _ = strconv.ParseUint(f[0], 10, 64)
	m.Stack, _ = strconv.ParseUint(f[1], 10, 64)
	m.RSS, _ = strconv.ParseUint(f[2], 10, 64)
	m.Goroutines, _ = strconv.Atoi(f[3])
	return m, nil
}

func (p *gatewayProc) sockets() (int, error) {
	f, err := p.ask("sockets", "SOCKETS", 1)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[0])
}

// stats is the store writer's counters: commits, writes, busy time.
func (p *gatewayProc) stats() (commits, writes uint64, busy time.Duration, err error) {
	f, err := p.ask("stats", "STATS", 3)
	if err != nil {
		return 0, 0, 0, err
	}
	commits, _ = strconv.ParseUint(f[0], 10, 64)
	writes, _ = strconv.ParseUint(f[1], 10, 64)
	ns, _ := strconv.ParseInt(f[2], 10, 64)
	return commits, writes, time.Duration(ns), nil
}

// stop ends the child: its stdin closes, it shuts the gateway down and
// removes its data; killed if it takes too long.
func (p *gatewayProc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// readLine reads sc's next line, waiting at most d. On a timeout the reading
// goroutine stays behind until the child writes or ends; the caller gives
// up on the child then.
func readLine(sc *bufio.Scanner, d time.Duration, who string) (string, error) {
	type line struct {
		s  string
		ok bool
	}
	got := make(chan line, 1)
	go func() {
		ok := sc.Scan()
		got <- line{sc.Text(), ok}
	}()
	select {
	case l := <-got:
		if !l.ok {
			return "", fmt.Errorf("%s ended", who)
		}
		return l.s, nil
	case <-time.After(d):
		return "", fmt.Errorf("%s silent for %v", who, d)
	}
}

// procCPU is a process's CPU time (user + system) from /proc/PID/stat.
func procCPU(pid int) (float64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return (utime + stime) / clockTicks, nil
}

// procTreeCPU is the CPU time of a process and its children, live or
// reaped: its own, its reaped children's (cutime, cstime) and each live
// child's the same way. A child that exits between two readings moves from
// the live sum to its parent's reaped one, so differences stay right
// (PostgreSQL's postmaster reaps the backends it forks per connection).
func procTreeCPU(pid int) (float64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	total, err := statTimes(pid, f)
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	ppid := strconv.Itoa(pid)
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		cf, err := procStat(child)
		if err != nil || cf[1] != ppid {
			continue // gone meanwhile, or not a child
		}
		if t, err := statTimes(child, cf); err == nil {
			total += t
		}
	}
	return total, nil
}

// statTimes is utime+stime+cutime+cstime of /proc/PID/stat's fields f (as
// procStat returns them), in seconds.
func statTimes(pid int, f []string) (float64, error) {
	var sum float64
	for _, i := range []int{11, 12, 13, 14} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: field %d %q", pid, i+3, f[i])
		}
		sum += v
	}
	return sum / clockTicks, nil
}

// procStat is /proc/PID/stat's fields after the command name: f[0] is the
// state (field 3), f[1] the parent's pid, f[11] utime (field 14).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (state is field 3, utime 14,
	// stime 15).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100
