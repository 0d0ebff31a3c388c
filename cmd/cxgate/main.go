package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/web"
)

func main() {
	server.TuneGC()
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "cxgate:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	// Subcommands: one function each, in its own file.
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return runCheck(args[1:], stdout, stderr)
		case "compact":
			return runCompact(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("cxgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration `file`; without one the demo setup runs")
	addr := fs.String("addr", "", "listen `address`, overrides the file (default 127.0.0.1:8080)")
	data := fs.String("data", "", "data `directory` for the store, overrides the file (default ./data)")
	logFormat := fs.String("log", "text", "log format: text or json (json: nothing but JSON records, on stderr)")
	importConfig := fs.Bool("import-config", false, "replace the store's deployments, queues, agents and webhooks with the --config file's")
	postgres := fs.String("postgres", "", "PostgreSQL `URL` of the store several gateways share, overrides store.postgres (default: the bbolt file under --data)")
	natsURL := fs.String("nats", "", "NATS server `URL` that joins this gateway to a cluster, overrides cluster.nats (needs --postgres)")
	node := fs.String("node", "", "this node's `name` in a cluster, overrides cluster.node (default: the host name)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {} // printed below: on stdout when asked for
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: cxgate [flags]\n\nRuns the cxgate web chat gateway. Flags:\n\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return fmt.Errorf("%w (see cxgate -h)", err)
	}
	if *showVersion {
		fmt.Fprintln(stdout, "cxgate", server.Version())
		return nil
	}
	if *importConfig && *configPath == "" {
		return fmt.Errorf("--import-config needs a --config file to import")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: cxgate takes only flags (see -h)", fs.Arg(0))
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(stderr, nil)
	default:
		return fmt.Errorf("--log: %q is not text or json", *logFormat)
	}
	logger := slog.New(handler)

	cfg := config.Demo()
	demo := true
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			return err
		}
		demo = false
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if *data != "" {
		cfg.Data = *data
	}
	if *postgres != "" {
		cfg.Store.Postgres = *postgres
	}
	if *natsURL != "" {
		cfg.Cluster.NATS = *natsURL
	}
	if *node != "" {
		cfg.Cluster.Node = *node
	}
	if host, _, err := net.SplitHostPort(cfg.Addr); demo && err == nil && !loopbackHost(host) {
		return fmt.Errorf("--addr %s: the demo setup listens on loopback only (its tokens are public); give a --config file to listen elsewhere", cfg.Addr)
	}
	// Signals from now on: one during startup still shuts down cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The port first: a port in use fails before the data directory is made.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	opts := server.Options{Static: web.Files(), Logger: logger, Demo: demo, ImportConfig: *importConfig}
	// Test only: the kill test slows retention sweeps down to catch one
	// in the middle. Not a setting: nothing else reads it.
	if v := os.Getenv("CXGATE_TEST_SWEEP_PAUSE"); v != "" {
		pause, err := time.ParseDuration(v)
		if err != nil {
			ln.Close()
			return fmt.Errorf("CXGATE_TEST_SWEEP_PAUSE: %w", err)
		}
		opts.Lifecycle.StepPause = pause
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		ln.Close()
		if errors.Is(err, store.ErrDamaged) {
			return fmt.Errorf("%w\nthe gateway did not start: list the problems with `cxgate check --data %s`, then restore a backup (docs/backup.md)", err, cfg.Data)
		}
		return err
	}
	base := "http://" + ln.Addr().String()
	logger.Info("cxgate listening", "addr", ln.Addr().String(), "data", cfg.Data, "demo", demo, "version", server.Version())
	if a := srv.MetricsAddr(); a != "" {
		logger.Info("metrics listening", "addr", a)
	}
	if *logFormat == "json" {
		// Log collectors read every line as a record: no banner.
		stdout = io.Discard
	}
	fmt.Fprintf(stdout, "cxgate listening on %s (store: %s)\n", base, cfg.Data)
	if demo {
		// The store's directory wins over the demo's once it exists: print
		// the demo agent's token only while it still works.
		agentLine := fmt.Sprintf("%s   (agent %s)", cfg.Agents[0].Token, cfg.Agents[0].ID)
		if _, ok := srv.Engine().AgentByToken(cfg.Agents[0].Token); !ok {
			agentLine = "(this store's agents differ from the demo's: list them with GET /v1/admin/agents)"
		}
		fmt.Fprintf(stdout, `demo setup:
  visitor page:  %[1]s/demo/
  async page:    %[1]s/demo/async/
  proactive:     %[1]s/demo/proactive/
  agent console: %[1]s/agent/
  agent token:   %[2]s
  admin token:   %[3]s
`, base, agentLine, cfg.AdminToken)
		if *logFormat == "json" {
			logger.Info("demo setup", "visitorPage", base+"/demo/", "asyncPage", base+"/demo/async/",
				"agentConsole", base+"/agent/", "agentToken", agentLine, "adminToken", cfg.AdminToken)
		}
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// loopbackHost reports whether a listen address's host is loopback only
// (an empty host listens on every interface).
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
