// Package scripts_test runs the repository's scripts as a user would.
package scripts_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/cxgate/cxgate/internal/pgtest"
)

// syncBuffer is the script's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePorts are n TCP ports of 127.0.0.1 free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// clusterEnv is the environment of a cluster on the given ports, with its
// binaries and state in bin.
func clusterEnv(bin string, pg, nats int, gateways []int) []string {
	var gw []string
	for _, p := range gateways {
		gw = append(gw, strconv.Itoa(p))
	}
	return append(os.Environ(),
		"CXGATE_CLUSTER_BIN="+bin,
		"CXGATE_CLUSTER_PG_PORT="+strconv.Itoa(pg),
		"CXGATE_CLUSTER_NATS_PORT="+strconv.Itoa(nats),
		"CXGATE_CLUSTER_PORTS="+strings.Join(gw, " "),
		"CXGATE_CLUSTER_TIMEOUT=60",
	)
}

// needCluster skips (or fails in CI) where the script cannot run.
func needCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries and starts a cluster")
	}
	_, err := pgtest.BinDir()
	pgtest.Need(t, err)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the script needs curl")
	}
}

// TestClusterScript: make cluster's script starts PostgreSQL with the
// database cxgate, NATS and three ready gateways on the ports it is given,
// prints them with their agent tokens, and its stop subcommand stops
// everything and removes the directory.
func TestClusterScript(t *testing.T) {
	needCluster(t)
	ports := freePorts(t, 5)
	pgPort, natsPort, gateways := ports[0], ports[1], ports[2:]
	bin := t.TempDir()
	env := clusterEnv(bin, pgPort, natsPort, gateways)

	var out syncBuffer
	start := exec.Command("bash", "cluster.sh", "start")
	start.Env, start.Stdout, start.Stderr = env, &out, &out
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- start.Wait() }()
	stop := func() ([]byte, error) {
		c := exec.Command("bash", "cluster.sh", "stop")
		c.Env = env
		return c.CombinedOutput()
	}
	t.Cleanup(func() {
		if start.ProcessState == nil {
			_, _ = stop()
		}
	})

	deadline := time.After(3 * time.Minute)
	for !strings.Contains(out.String(), "stops it all") {
		select {
		case err := <-exited:
			t.Fatalf("the script exited (%v) before the cluster ran:\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("the cluster not running after 3 minutes:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	printed := out.String()
	t.Logf("the script printed:\n%s", printed)
	m := regexp.MustCompile(`running; logs in (\S+)`).FindStringSubmatch(printed)
	if m == nil {
		t.Fatal("the script did not say where its directory is")
	}
	dir := m[1]
	if n := strings.Count(printed, "agent token:"); n != len(gateways) {
		t.Errorf("%d agent token lines for %d gateways", n, len(gateways))
	}

	for i, p := range gateways {
		u := fmt.Sprintf("http://127.0.0.1:%d/", p)
		if !strings.Contains(printed, fmt.Sprintf("gateway n%d  %s", i+1, u)) {
			t.Errorf("gateway n%d's URL %s not printed", i+1, u)
		}
		resp, err := http.Get(u + "readyz")
		if err != nil {
			t.Fatalf("n%d: %v", i+1, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("n%d /readyz: %s", i+1, resp.Status)
		}
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("n%d", i+1))); err != nil {
			t.Errorf("n%d's data directory: %v", i+1, err)
		}
	}

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort))
	if err != nil {
		t.Fatalf("NATS: %v", err)
	}
	sub, err := nc.SubscribeSync("cluster.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("cluster.test", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(5 * time.Second); err != nil || string(msg.Data) != "hi" {
		t.Errorf("NATS round trip: %v, %v", msg, err)
	}
	nc.Close()

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/cxgate?sslmode=disable", pgPort))
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != "cxgate" {
		t.Errorf("database %q, %v; want cxgate", db, err)
	}
	conn.Close(ctx)

	if b, err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, b)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the script exited with %v after stop:\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the script still running a minute after stop")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left after stop (%v)", dir, err)
	}
	if _, err := os.Stat(filepath.Join(bin, "cluster.state")); !os.IsNotExist(err) {
		t.Errorf("cluster.state left after stop (%v)", err)
	}
	for _, p := range ports {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still served after stop", p)
		}
	}
}

// TestClusterScriptPortInUse: a port in use is refused by name before
// anything is built or started.
func TestClusterScriptPortInUse(t *testing.T) {
	needCluster(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	ports := freePorts(t, 3)
	bin := t.TempDir()
	c := exec.Command("bash", "cluster.sh", "start")
	c.Env = clusterEnv(bin, ports[0], ports[1], []int{ports[2], busy})
	out, err := c.CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("port %d on 127.0.0.1 is in use", busy)) {
		t.Fatalf("a busy gateway port: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(bin); len(entries) != 0 {
		t.Errorf("the refused start left %d files in its bin directory", len(entries))
	}
}
