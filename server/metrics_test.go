package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestMetrics_OwnListener: with metricsAddr, /metrics is served there and
// nowhere else, and the main listener answers 404 for it; the metrics
// listener starts with the gateway and stops with its shutdown.
func TestMetrics_OwnListener(t *testing.T) {
	cfg := config.Demo()
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	main, metrics := "http://"+ln.Addr().String(), "http://"+srv.MetricsAddr()
	if srv.MetricsAddr() == "" {
		t.Fatal("no metrics listener")
	}

	if status, body := get(t, main+"/metrics", ""); status != http.StatusNotFound || strings.Contains(body, "cxgate_") {
		t.Errorf("main listener GET /metrics: HTTP %d %.80s, want 404", status, body)
	}
	if status, _ := get(t, main+"/healthz", ""); status != http.StatusOK {
		t.Errorf("main listener GET /healthz: HTTP %d", status)
	}
	if status, body := get(t, metrics+"/metrics", ""); status != http.StatusOK || !strings.Contains(body, "cxgate_http_requests_total") {
		t.Errorf("metrics listener GET /metrics: HTTP %d %.200s", status, body)
	}
	for _, path := range []string{"/", "/healthz", "/v1/command", "/agent/"} {
		if status, _ := get(t, metrics+path, ""); status != http.StatusNotFound {
			t.Errorf("metrics listener GET %s: HTTP %d, want 404: it serves /metrics only", path, status)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	<-served
	if c, err := net.Dial("tcp", srv.MetricsAddr()); err == nil {
		c.Close()
		t.Error("the metrics listener still accepts after shutdown")
	}
}

// TestMetrics_AddrTaken: a metricsAddr that cannot be listened on fails
// the start, naming the key.
func TestMetrics_AddrTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := config.Demo()
	cfg.MetricsAddr = taken.Addr().String()
	cfg.Data = t.TempDir()
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		_ = srv.Shutdown(context.Background())
		t.Fatal("started with its metrics address taken")
	}
	if !strings.Contains(err.Error(), "metricsAddr") {
		t.Errorf("error %q does not name metricsAddr", err)
	}
}

// TestMetrics_MainListener: without metricsAddr, /metrics stays where it was.
func TestMetrics_MainListener(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	if gw.MetricsAddr() != "" {
		t.Errorf("a metrics listener at %s without metricsAddr", gw.MetricsAddr())
	}
	if status, body := get(t, gw.URL+"/metrics", ""); status != http.StatusOK || !strings.Contains(body, "cxgate_") {
		t.Errorf("GET /metrics: HTTP %d", status)
	}
}
