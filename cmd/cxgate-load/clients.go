package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// When both ends of N connections do not fit in one process (RLIMIT_NOFILE
// and no right to raise it), the idle sockets and the long-polls run in a
// child process, this same program with roleEnv=clients, driven by lines on
// its stdin:
//
//	ws URL / t TOKEN ... / go       → ok OPENED FAILED
//	lp ADDR WAITSECONDS / p TOKEN AFTER WANT ... / go → ok
//	sending                         → ok
//	collect SECONDS                 → a I UNIXNANO ... / done EARLY FAILED
//	close                           → ok
//
// Its memory is not this process's: the in-process gateway's delta is then
// the gateway's alone.

// fdsFor reports whether this process may hold n file descriptors.
func fdsFor(n int) bool {
	got, err := raiseFDLimit(uint64(n))
	return err == nil && got >= uint64(n)
}

// clientMain is the child.
func clientMain() {
	if n, _ := strconv.ParseUint(os.Getenv("CXGATE_LOAD_FDS"), 10, 64); n > 0 {
		_, _ = raiseFDLimit(n)
	}
	go func() {
		time.Sleep(30 * time.Minute) // never outlive a forgotten parent
		os.Exit(2)
	}()
	errs := newErrCounter()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	var (
		idle  *idleSet
		polls *pollSet
	)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "ws":
			var tokens []string
			for in.Scan() && in.Text() != "go" {
				tokens = append(tokens, strings.TrimPrefix(in.Text(), "t "))
			}
			var err error
			idle, err = openIdle(f[1], tokens, errs)
			opened := 0
			for _, c := range idle.conns {
				if c != nil {
					opened++
				}
			}
			if err != nil {
				say("ok %d %d %s", opened, len(tokens)-opened, strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				say("ok %d 0", opened)
			}
		case "lp":
			wait, _ := strconv.ParseFloat(f[2], 64)
			var specs []pollSpec
			for in.Scan() && in.Text() != "go" {
				p := strings.SplitN(in.Text(), " ", 4)
				if len(p) == 4 {
					after, _ := strconv.ParseUint(p[2], 10, 64)
					specs = append(specs, pollSpec{token: p[1], after: after, want: p[3]})
				}
			}
			var err error
			polls, err = parkPolls(f[1], specs, time.Duration(wait*float64(time.Second)), errs)
			if err != nil {
				say("err %s", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				say("ok")
			}
		case "sending":
			if polls != nil {
				polls.sending.Store(true)
			}
			say("ok")
		case "collect":
			secs, _ := strconv.ParseFloat(f[1], 64)
			if polls == nil {
				say("done 0 0")
				continue
			}
			waitTimeout(&polls.wg, time.Duration(secs*float64(time.Second)))
			polls.closeAll()
			for i := range polls.answerAt {
				if a := polls.answerAt[i].Load(); a != 0 {
					fmt.Fprintf(out, "a %d %d\n", i, a)
				}
			}
			say("done %d %d", polls.early.Load(), polls.failed.Load())
		case "close":
			if idle != nil {
				idle.close()
				idle = nil
			}
			if polls != nil {
				polls.closeAll()
				waitTimeout(&polls.wg, 10*time.Second)
				polls = nil
			}
			say("ok")
		}
	}
	os.Exit(0)
}

// clientChild is the parent's handle on the child.
type clientChild struct {
	cmd  *exec.Cmd
	in   *bufio.Writer
	inC  io.Closer
	out  *bufio.Scanner
	errs *errCounter
	n    int
}

// spawnChild runs this binary again in role (the client sockets, a bare
// echo server or the gateway), with fds file descriptors allowed and env
// added to its environment; it talks to the child by lines on its stdin and
// stdout.
func spawnChild(role string, fds uint64, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"="+role, fmt.Sprintf("CXGATE_LOAD_FDS=%d", fds))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	outR, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	sc := bufio.NewScanner(outR)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return cmd, in, sc, nil
}

func spawnClients(fds uint64, errs *errCounter) (*clientChild, error) {
	cmd, in, sc, err := spawnChild("clients", fds)
	if err != nil {
		return nil, err
	}
	return &clientChild{cmd: cmd, in: bufio.NewWriterSize(in, 64<<10), inC: in, out: sc, errs: errs}, nil
}

func (c *clientChild) send(lines ...string) error {
	for _, l := range lines {
		if _, err := c.in.WriteString(l + "\n"); err != nil {
			return err
		}
	}
	return c.in.Flush()
}

// line reads the child's next line, waiting at most d.
func (c *clientChild) line(d time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		if c.out.Scan() {
			got <- c.out.Text()
		} else {
			got <- "\x00"
		}
	}()
	select {
	case l := <-got:
		if l == "\x00" {
			return "", fmt.Errorf("client process ended")
		}
		return l, nil
	case <-time.After(d):
		return "", fmt.Errorf("client process silent for %v", d)
	}
}

// openWS opens one idle socket per token in the child.
func (c *clientChild) openWS(url string, tokens []string) (opened int, err error) {
	if err := c.send("ws " + url); err != nil {
		return 0, err
	}
	for _, t := range tokens {
		if _, err := c.in.WriteString("t " + t + "\n"); err != nil {
			return 0, err
		}
	}
	if err := c.send("go"); err != nil {
		return 0, err
	}
	l, err := c.line(5 * time.Minute)
	if err != nil {
		return 0, err
	}
	f := strings.SplitN(l, " ", 4)
	if len(f) < 3 || f[0] != "ok" {
		return 0, fmt.Errorf("client process: %q", l)
	}
	opened, _ = strconv.Atoi(f[1])
	if len(f) == 4 {
		c.errs.add("socket_open", len(tokens)-opened, f[3])
		return opened, fmt.Errorf("client process: %s", f[3])
	}
	return opened, nil
}

func (c *clientChild) park(addr string, specs []pollSpec, wait time.Duration) error {
	c.n = len(specs)
	if err := c.send(fmt.Sprintf("lp %s %g", addr, wait.Seconds())); err != nil {
		return err
	}
	for _, s := range specs {
		if _, err := fmt.Fprintf(c.in, "p %s %d %s\n", s.token, s.after, s.want); err != nil {
			return err
		}
	}
	if err := c.send("go"); err != nil {
		return err
	}
	l, err := c.line(5 * time.Minute)
	if err != nil {
		return err
	}
	if l != "ok" {
		return fmt.Errorf("client process: %s", l)
	}
	return nil
}

func (c *clientChild) startSending() {
	if c.send("sending") == nil {
		_, _ = c.line(10 * time.Second)
	}
}

func (c *clientChild) collect(d time.Duration) ([]int64, int, int, error) {
	at := make([]int64, c.n)
	if err := c.send(fmt.Sprintf("collect %g", d.Seconds())); err != nil {
		return at, 0, 0, err
	}
	for {
		l, err := c.line(d + 30*time.Second)
		if err != nil {
			return at, 0, 0, err
		}
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "a":
			i, _ := strconv.Atoi(f[1])
			t, _ := strconv.ParseInt(f[2], 10, 64)
			if i >= 0 && i < len(at) {
				at[i] = t
			}
		case len(f) == 3 && f[0] == "done":
			early, _ := strconv.Atoi(f[1])
			failed, _ := strconv.Atoi(f[2])
			c.errs.add("longpoll_early", early, "in the client process")
			c.errs.add("longpoll_failed", failed, "in the client process")
			return at, early, failed, nil
		default:
			return at, 0, 0, fmt.Errorf("client process: %q", l)
		}
	}
}

// closeConns closes the child's sockets and polls, keeping the child.
func (c *clientChild) closeConns() {
	if c.send("close") == nil {
		_, _ = c.line(60 * time.Second)
	}
}

func (c *clientChild) close() {
	c.inC.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
