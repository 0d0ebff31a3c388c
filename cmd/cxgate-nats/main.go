package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cxgate-nats:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("cxgate-nats", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4222", "listen `address` for NATS clients (port 0: any free port, which the log names)")
	storeDir := fs.String("store-dir", "", "`directory` for JetStream's files; empty: no JetStream, nothing on disk")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	host, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %s: %w", *addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("-addr %s: bad port", *addr)
	}
	if port == 0 {
		// Port 0 means 4222 to the server; here it means any free port,
		// as it does to net.Listen (the log says which).
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "cxgate-nats",
		Host:       host,
		Port:       port,
		Logtime:    true,
		// The signals are ours: the server's own handling would also
		// take SIGHUP, SIGUSR1 and the like, which mean nothing here.
		NoSigs: true,
	}
	if *storeDir != "" {
		opts.JetStream = true
		opts.StoreDir = *storeDir
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats server: %w", err)
	}
	srv.ConfigureLogger() // no log file in the options: stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("not accepting connections on %s after 10s (port in use?)", *addr)
	}
	select {
	case <-ctx.Done():
		srv.Shutdown()
	case <-waitShutdown(srv):
		// Shut down from inside (a fatal error the server logged).
		return fmt.Errorf("the server stopped on its own")
	}
	srv.WaitForShutdown()
	return nil
}

// waitShutdown is closed when srv has shut down.
func waitShutdown(srv *server.Server) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		srv.WaitForShutdown()
		close(done)
	}()
	return done
}
