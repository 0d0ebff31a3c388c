package pgstore_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errNoPostgres is a machine without PostgreSQL's server binaries.
var errNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or under /usr/lib/postgresql/*/bin; install Debian's postgresql package")

// server is a throwaway PostgreSQL: a cluster initialised in a temporary
// directory, listening on 127.0.0.1 and a socket in that directory, owned by
// the test binary and gone with it.
type server struct {
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster exited
	url  string
}

// binDir finds the directory of initdb and postgres: PATH first, else the
// newest of Debian's versioned directories (not on PATH).
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errNoPostgres
}

// startServer initialises a cluster and starts its postmaster. As root it
// runs both as the postgres user (initdb refuses root); the postmaster gets
// SIGQUIT (immediate shutdown) should the test binary die without stopping
// it.
func startServer() (*server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cxgate-pgstore-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, done: make(chan struct{})}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			s.remove()
			return nil, fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			s.remove()
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	// No fsync at initdb: the cluster lives as long as the test binary.
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		s.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		s.remove()
		return nil, err
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.remove()
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		s.remove()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	// The log is read to its end (the postmaster would block on a full
	// pipe); its start is kept to tell why a start failed.
	ready := make(chan struct{})
	var (
		mu  sync.Mutex
		log strings.Builder
	)
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			mu.Lock()
			if log.Len() < 16<<10 {
				log.WriteString(sc.Text() + "\n")
			}
			mu.Unlock()
			if !signalled && strings.Contains(sc.Text(), "ready to accept connections") {
				close(ready)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case <-ready:
	case <-s.done:
		s.remove()
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("postgres exited at start: %s", log.String())
	case <-time.After(time.Minute):
		s.stop()
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("postgres not ready after a minute: %s", log.String())
	}
	s.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return s, nil
}

// freePort is a TCP port on 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop shuts the server down at once (its data is thrown away) and removes
// its directory.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	<-s.done
	s.remove()
}

func (s *server) remove() { _ = os.RemoveAll(s.dir) }
