package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/internal/pgtest"
)

// query runs one statement returning one text on the database at u.
func query(t *testing.T, u, sql string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect %s: %v", u, err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// TestStartCreateStop: a started server takes connections, makes
// databases that are what their URL names, and is gone after Stop.
func TestStartCreateStop(t *testing.T) {
	t.Setenv(pgtest.EnvURL, "") // this test is about the server it starts
	s, err := pgtest.Start()
	pgtest.Need(t, err)
	defer s.Stop()
	if s.External() {
		t.Fatal("a started server says it is external")
	}
	u, err := s.CreateDatabase("pgtest_one")
	if err != nil {
		t.Fatal(err)
	}
	if got := query(t, u, "SELECT current_database()"); got != "pgtest_one" {
		t.Fatalf("the URL %s opens database %q", u, got)
	}
	if u != s.URL("pgtest_one") {
		t.Fatalf("CreateDatabase said %s, URL says %s", u, s.URL("pgtest_one"))
	}
	if _, err := s.CreateDatabase("pgtest_one"); err == nil {
		t.Fatal("creating a database twice did not fail")
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	host := parsed.Host
	s.Stop()
	s.Stop() // twice is harmless
	if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", host)
	}
}

// TestExternal: with CXGATE_TEST_POSTGRES set Start starts nothing, and Stop
// drops only the databases CreateDatabase made on it.
func TestExternal(t *testing.T) {
	t.Setenv(pgtest.EnvURL, "")
	local, err := pgtest.Start()
	pgtest.Need(t, err)
	defer local.Stop()

	t.Setenv(pgtest.EnvURL, local.URL("postgres"))
	ext, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	if !ext.External() {
		t.Fatal("the server CXGATE_TEST_POSTGRES names is not external")
	}
	if ext.URL("x") != local.URL("x") {
		t.Fatalf("external URL %s, the server's %s", ext.URL("x"), local.URL("x"))
	}
	if _, err := ext.CreateDatabase("pgtest_ext"); err != nil {
		t.Fatal(err)
	}
	// A connection left open must not keep the database from being dropped.
	ctx := context.Background()
	open, err := pgx.Connect(ctx, ext.URL("pgtest_ext"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close(ctx)
	ext.Stop()
	const exists = "SELECT count(*)::text FROM pg_database WHERE datname = $1"
	if n := query(t, local.URL("postgres"), exists, "pgtest_ext"); n != "0" {
		t.Fatal("Stop left the external server's test database")
	}
	if n := query(t, local.URL("postgres"), exists, "postgres"); n != "1" {
		t.Fatal("Stop dropped more than its own databases")
	}

	t.Setenv(pgtest.EnvURL, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	if _, err := pgtest.Start(); err == nil {
		t.Fatal("an unreachable CXGATE_TEST_POSTGRES did not fail Start")
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped = true }
func (r *recorder) Fatal(args ...any) { r.failed = true }

// TestNeed: missing binaries skip a test outside CI and fail it in CI; any
// other error fails it.
func TestNeed(t *testing.T) {
	missing := fmt.Errorf("start: %w", pgtest.ErrNoPostgres)
	broken := errors.New("postgres exited at start")
	for _, c := range []struct {
		ci            string
		err           error
		skip, failure bool
	}{
		{"", nil, false, false},
		{"true", nil, false, false},
		{"", missing, true, false},
		{"true", missing, false, true},
		{"", broken, false, true},
		{"true", broken, false, true},
	} {
		t.Setenv("CI", c.ci)
		r := &recorder{TB: t}
		pgtest.Need(r, c.err)
		if r.skipped != c.skip || r.failed != c.failure {
			t.Errorf("CI=%q err=%v: skipped %v failed %v, want %v %v", c.ci, c.err, r.skipped, r.failed, c.skip, c.failure)
		}
	}
}

// TestBinDir: the directory found holds both binaries; finding none is
// ErrNoPostgres.
func TestBinDir(t *testing.T) {
	dir, err := pgtest.BinDir()
	if err != nil {
		if !errors.Is(err, pgtest.ErrNoPostgres) {
			t.Fatalf("BinDir: %v, want ErrNoPostgres", err)
		}
		return
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("BinDir %s: %v", dir, err)
		}
	}
}

// TestDatabase: each call makes a database of its own, usable at once and
// gone when its test ends.
func TestDatabase(t *testing.T) {
	t.Setenv(pgtest.EnvURL, "")
	s := pgtest.New(t)
	var first, second string
	t.Run("sub/test with spaces", func(t *testing.T) {
		first = s.Database(t)
		second = s.Database(t)
		if first == second {
			t.Fatalf("two calls gave the same database %s", first)
		}
		for _, u := range []string{first, second} {
			if got := query(t, u, "SELECT current_database()"); !strings.HasPrefix(got, "t_") {
				t.Errorf("database %q", got)
			}
		}
	})
	const count = "SELECT count(*)::text FROM pg_database WHERE datname LIKE 't\\_%'"
	if n := query(t, s.URL("postgres"), count); n != "0" {
		t.Fatalf("%s databases left after their test ended", n)
	}
}
