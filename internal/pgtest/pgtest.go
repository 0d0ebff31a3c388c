// Package pgtest starts a throwaway PostgreSQL for tests: a cluster
// initialised from the server binaries of Debian's postgresql package in a
// temporary directory, listening on a free port of 127.0.0.1, stopped and
// removed when the test is done.
//
// CXGATE_TEST_POSTGRES names an existing server instead (a URL; its database
// part is replaced by CreateDatabase's and URL's). A machine without the
// binaries gets ErrNoPostgres, which Need turns into a skip, or into a
// failure when CI=true (CI installs PostgreSQL, so there its absence is a
// broken runner).
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of an existing
// server to use instead of starting one.
const EnvURL = "CXGATE_TEST_POSTGRES"

// ErrNoPostgres is a machine without PostgreSQL's server binaries.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or under /usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql")

// startTimeout bounds how long a new postmaster may take to accept
// connections (initdb is not included).
const startTimeout = time.Minute

// Server is a PostgreSQL server for tests: one this package started, or the
// external one CXGATE_TEST_POSTGRES names.
type Server struct {
	base *url.URL // the server's URL; its path is replaced per database

	// Only for a server this package started.
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster exited

	mu      sync.Mutex
	created []string // databases CreateDatabase made, dropped by Stop on an external server
	stopped bool
}

// Start starts a throwaway server, or returns the one CXGATE_TEST_POSTGRES
// names (checked with a connection). The error wraps ErrNoPostgres when the
// binaries are missing.
func Start() (*Server, error) {
	if env := os.Getenv(EnvURL); env != "" {
		u, err := url.Parse(env)
		if err != nil {
			return nil, fmt.Errorf("%s is not a URL: %w", EnvURL, err)
		}
		s := &Server{base: u}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", EnvURL, err)
		}
		_ = conn.Close(ctx)
		return s, nil
	}
	return startLocal()
}

// New starts a server for one test (or benchmark) and stops it when the
// test ends; without one it skips or fails as Need does.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start()
	Need(tb, err)
	tb.Cleanup(s.Stop)
	return s
}

// Need ends tb when Start failed: a skip when the binaries are missing and
// CI is not "true", a failure otherwise (a server that would not start is
// always a failure). A nil err does nothing.
func Need(tb testing.TB, err error) {
	tb.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrNoPostgres) && os.Getenv("CI") != "true":
		tb.Skip(err)
	default:
		tb.Fatal(err)
	}
}

// External reports whether the server is the one CXGATE_TEST_POSTGRES
// names, which outlives the tests (so they must clean up after themselves).
func (s *Server) External() bool { return s.cmd == nil }

// URL is the URL of database db on the server (user postgres, no TLS for
// a server this package started).
func (s *Server) URL(db string) string {
	u := *s.base
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}

// CreateDatabase creates database name and returns its URL. On an external
// server Stop drops it again.
func (s *Server) CreateDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	s.mu.Lock()
	s.created = append(s.created, name)
	s.mu.Unlock()
	return s.URL(name), nil
}

// databases numbers the databases Database makes, so their names are
// unique within the test binary.
var databases atomic.Int64

// Database creates a database of its own for tb (named after the test, so
// an external server's leftovers say where they came from) and returns its
// URL; it is dropped when the test ends. It fails tb when it cannot be made.
func (s *Server) Database(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("%s_%d", strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(tb.Name()), "_"), "_"), databases.Add(1))
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	name = "t_" + name // PostgreSQL's names end at 63 bytes
	u, err := s.CreateDatabase(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.mu.Lock()
		s.created = slices.DeleteFunc(s.created, func(n string) bool { return n == name })
		stopped := s.stopped
		s.mu.Unlock()
		if !stopped {
			s.drop([]string{name})
		}
	})
	return u
}

// unsafeChars are what a test's name may hold that a bare database name
// may not.
var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// Stop stops a server this package started at once (its data is thrown
// away) and removes its directory; on an external server it drops the
// databases CreateDatabase made. Calling it again does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	created := s.created
	s.mu.Unlock()
	if s.External() {
		s.drop(created)
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	<-s.done
	s.remove()
}

// drop drops databases on the external server, reporting failures on
// stderr: Stop runs in cleanups and TestMain, where there is no one to
// return them to.
func (s *Server) drop(names []string) {
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: drop test databases:", err)
		return
	}
	defer conn.Close(ctx)
	for _, name := range names {
		// FORCE: a test's pool left open must not keep its database.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop database %s: %v\n", name, err)
		}
	}
}

// BinDir finds the directory of initdb and postgres: PATH first, else the
// newest of Debian's versioned directories (which are not on PATH).
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), "postgres")); err == nil {
				return filepath.Dir(p), nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		_, errI := os.Stat(filepath.Join(d, "initdb"))
		_, errP := os.Stat(filepath.Join(d, "postgres"))
		if errI == nil && errP == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// startLocal initialises a cluster and starts its postmaster. As root both
// run as the postgres user (initdb refuses root, and the data directory
// must belong to the server's user); the postmaster gets SIGQUIT (immediate
// shutdown) should the test binary die without stopping it.
func startLocal() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cxgate-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory for postgres: %w", err)
	}
	s := &Server{dir: dir, done: make(chan struct{})}
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
			return nil, fmt.Errorf("give %s to the postgres user: %w", dir, err)
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
	// fsync off too: nothing here must survive a crash, and the tests share
	// two cores and one disk with everything else.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=off")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.remove()
		return nil, fmt.Errorf("postgres log pipe: %w", err)
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
	logText := func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	select {
	case <-ready:
	case <-s.done:
		s.remove()
		return nil, fmt.Errorf("postgres exited at start: %s", logText())
	case <-time.After(startTimeout):
		s.Stop()
		return nil, fmt.Errorf("postgres not ready after %v: %s", startTimeout, logText())
	}
	s.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	return s, nil
}

// freePort is a TCP port on 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for postgres: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) remove() { _ = os.RemoveAll(s.dir) }
