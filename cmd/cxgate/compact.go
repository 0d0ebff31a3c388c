package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/cxgate/cxgate/server"
)

// runCompact is `cxgate compact --data DIR`: it rewrites the store file
// without its free pages, offline. bbolt reuses the pages that deletions
// free but never gives them back to the file system; a copy made by
// bolt.Compact holds only live data, densely packed. The copy is written
// beside the store, synced, and renamed over it, so a crash leaves either
// the old file or the new one.
func runCompact(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cxgate compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data `directory` holding the store (the gateway must be stopped)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("compact: unexpected argument %q", fs.Arg(0))
	}
	path := filepath.Join(*data, server.DBFile)
	before, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("compact: %s is in use: stop the gateway first", path)
	}
	if err != nil {
		return fmt.Errorf("compact: open %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	_ = os.Remove(tmp) // left by an interrupted run
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("compact: create %s: %w", tmp, err)
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := errors.Join(dst.Sync(), dst.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	after, err := os.Stat(tmp)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := src.Close(); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compact: replace %s: %w", path, err)
	}
	if d, err := os.Open(*data); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	fmt.Fprintf(stdout, "compacted %s: %d bytes → %d bytes\n", path, before.Size(), after.Size())
	return nil
}
