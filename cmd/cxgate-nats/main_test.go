package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// build compiles the command into a temporary directory: the test runs the
// binary make cluster runs, signals and all.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cxgate-nats")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// started is a running cxgate-nats and what it logged.
type started struct {
	cmd  *exec.Cmd
	addr string // host:port its log says it listens on
	done chan error

	mu  sync.Mutex
	log strings.Builder
}

func (s *started) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// start runs bin with args and waits for the log line naming its client
// address.
func start(t *testing.T, bin string, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if _, addr, ok := strings.Cut(line, "Listening for client connections on "); ok {
				listening <- strings.TrimSpace(addr)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.done <- s.cmd.Wait()
		close(s.done)
	}()
	select {
	case s.addr = <-listening:
	case err := <-s.done:
		t.Fatalf("cxgate-nats exited at start (%v):\n%s", err, s.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("cxgate-nats not listening after 20s:\n%s", s.logText())
	}
	return s
}

// stop sends SIGTERM and wants a clean exit.
func (s *started) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("cxgate-nats exited with %v after SIGTERM:\n%s", err, s.logText())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("cxgate-nats still running 20s after SIGTERM:\n%s", s.logText())
	}
}

// TestBinary: the built binary serves NATS clients on the address it logs,
// delivers what they publish, keeps JetStream's files in -store-dir when
// given one, and exits 0 on SIGTERM.
func TestBinary(t *testing.T) {
	bin := build(t)

	t.Run("core", func(t *testing.T) {
		s := start(t, bin, "-addr", "127.0.0.1:0")
		nc, err := nats.Connect("nats://" + s.addr)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := nc.SubscribeSync("cxgate.test")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("cxgate.test", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil || string(msg.Data) != "hello" {
			t.Fatalf("received %v, %v; want hello", msg, err)
		}
		js, err := nc.JetStream()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.AccountInfo(); !errors.Is(err, nats.ErrJetStreamNotEnabled) {
			t.Errorf("JetStream account info without -store-dir: %v, want it not enabled", err)
		}
		nc.Close()
		s.stop(t)
		if !strings.Contains(s.logText(), "Server Exiting") {
			t.Errorf("no clean shutdown in the log:\n%s", s.logText())
		}
	})

	t.Run("jetstream", func(t *testing.T) {
		dir := t.TempDir()
		s := start(t, bin, "-addr", "127.0.0.1:0", "-store-dir", dir)
		nc, err := nats.Connect("nats://" + s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := nc.JetStream()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.AddStream(&nats.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
			t.Fatalf("add stream: %v", err)
		}
		if _, err := js.Publish("t.one", []byte("kept")); err != nil {
			t.Fatalf("publish to the stream: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) == 0 {
			t.Errorf("-store-dir %s is empty with a stream in it", dir)
		}
		nc.Close()
		s.stop(t)
	})

	t.Run("bad flags", func(t *testing.T) {
		out, err := exec.Command(bin, "-addr", "127.0.0.1:x").CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "bad port") {
			t.Fatalf("-addr 127.0.0.1:x: %v, %s", err, out)
		}
	})
}
