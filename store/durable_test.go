package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// syncChildEnv names the directory of the durability test's child.
const syncChildEnv = "CXGATE_SYNC_CHILD"

// syncChildWrites is how many writes the child makes, one after another.
const syncChildWrites = 25

// runSyncChild, when this process is the durability test's child, makes
// syncChildWrites writes one after the other, each followed (once it is
// answered) by a getppid system call that marks the acknowledgement in the
// parent's trace, and exits.
func runSyncChild() {
	dir := os.Getenv(syncChildEnv)
	if dir == "" {
		return
	}
	s, err := store.Open(filepath.Join(dir, "cxgate.db"), store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ctx := context.Background()
	if _, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("d1", "dep")}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	syscall.Getppid() // the first mark: writes counted from here
	for i := range syncChildWrites {
		if _, _, _, err := s.Mutate(ctx, "d1", "", appendFn(message(fmt.Sprint(i)))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		syscall.Getppid()
	}
	os.Exit(0)
}

// TestDurableAcknowledgement proves that "acknowledged" means "on disk":
// a child process makes writes one after the other under strace, and
// between the acknowledgements of two consecutive writes the trace must
// hold a completed fdatasync of the store's file. A store that answered
// before syncing (or never synced) fails.
func TestDurableAcknowledgement(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("strace is not installed (.ci/run installs it)")
		}
		t.Skip("strace is not installed")
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=fdatasync,getppid", "-o", trace, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), syncChildEnv+"="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child under strace: %v\n%s", err, out)
	}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	marks, synced, unsynced := 0, false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "getppid(") && !strings.Contains(line, "resumed"):
			if marks > 0 && !synced {
				unsynced++
			}
			marks++
			synced = false
		case strings.Contains(line, "fdatasync") && strings.Contains(line, "= 0"):
			synced = true
		}
	}
	if marks != syncChildWrites+1 {
		t.Fatalf("the trace holds %d acknowledgement marks, want %d", marks, syncChildWrites+1)
	}
	if unsynced > 0 {
		t.Fatalf("%d of %d writes were acknowledged without an fdatasync since the previous one", unsynced, syncChildWrites)
	}
}
