package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/store"
)

// runCheck is `cxgate check [--config FILE] [--data DIR]`: it checks the
// store file of a stopped gateway (or a backup's directory) and lists what
// is wrong. It answers nil (exit 0) when the file is sound.
func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cxgate check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration `file` whose data directory to check")
	data := fs.String("data", "", "data `directory` holding "+server.DBFile+", overrides the file (default ./data)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("check: unexpected argument %q (see cxgate check -h)", fs.Arg(0))
	}
	dir := "./data" // as config.ApplyDefaults
	if *configPath != "" {
		cfg, err := config.Load(*configPath)
		if err != nil {
			return err
		}
		if cfg.Data != "" {
			dir = cfg.Data
		}
	}
	if *data != "" {
		dir = *data
	}
	path := filepath.Join(dir, server.DBFile)
	err := store.Verify(path, time.Second)
	var de *store.DamagedError
	if errors.As(err, &de) {
		fmt.Fprintf(stdout, "%s is damaged: %d problems\n", path, len(de.Problems))
		for _, p := range de.Problems {
			fmt.Fprintln(stdout, "  "+p)
		}
		return fmt.Errorf("check: %s is damaged; restore a backup (docs/backup.md)", path)
	}
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}
