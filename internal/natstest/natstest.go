// Package natstest runs a NATS server inside the test binary: no binary to
// install, a random port of 127.0.0.1, no log, and shut down when the test
// ends. A test of a NATS outage shuts it down and restarts it on the same
// port, so clients reconnect to the URL they were given.
package natstest

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long a server may take to accept connections.
const readyTimeout = 10 * time.Second

// Server is an in-process NATS server for one test.
type Server struct {
	tb   testing.TB
	port int // fixed at the first start, kept across restarts

	mu  sync.Mutex
	srv *server.Server // nil while shut down
}

// Start starts a server for tb and returns its URL; it is shut down when
// the test ends.
func Start(tb testing.TB) string {
	tb.Helper()
	return New(tb).URL()
}

// New starts a server for tb, shut down when the test ends; the returned
// Server can shut it down and restart it meanwhile.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, port: server.RANDOM_PORT}
	srv, err := s.run()
	if err != nil {
		tb.Fatal(err)
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
	tb.Cleanup(s.Shutdown)
	return s
}

// run starts a server on s.port. The options are new each time: the
// server keeps and changes the ones it was given.
func (s *Server) run() (*server.Server, error) {
	opts := &server.Options{
		Host:   "127.0.0.1",
		Port:   s.port,
		NoLog:  true,
		NoSigs: true, // the test binary's signals are its own
		// No monitoring, cluster, gateway or leaf ports: only clients.
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server on 127.0.0.1:%d not ready after %v", s.port, readyTimeout)
	}
	return srv, nil
}

// URL is the server's client URL, the same across restarts.
func (s *Server) URL() string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port is the server's port, the same across restarts.
func (s *Server) Port() int { return s.port }

// Running reports whether the server is up (not shut down).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Shutdown stops the server and waits until it has closed every client
// connection and its listener. Shutting down a stopped server does nothing.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart starts the server again on the same port after Shutdown (a
// running server is shut down first). It fails the test when the server
// does not come back, for instance when something else took the port.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Shutdown()
	s.mu.Lock()
	defer s.mu.Unlock()
	srv, err := s.run()
	if err != nil {
		s.tb.Fatalf("restart: %v", err)
	}
	s.srv = srv
}
