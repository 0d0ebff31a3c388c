package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/storetest"
)

func wantStaged(t *testing.T, s *store.Store, files, chunks int) {
	t.Helper()
	f, c, err := s.StagedCount()
	if err != nil || f != files || c != chunks {
		t.Fatalf("staged: %d files, %d chunks (%v), want %d and %d", f, c, err, files, chunks)
	}
}

// TestStagedFile_CrashLeavesNothing: content staged by a process that
// stopped before the upload ended (no Discard ran) is gone after the next
// Open (the PostgreSQL store leaves them to SweepStaged: other gateways
// may be uploading them).
func TestStagedFile_CrashLeavesNothing(t *testing.T) {
	s, path := newTestStore(t, store.Options{NoSync: true})
	storetest.Stage(t, s.StageFile, bytes.Repeat([]byte("x"), 2*store.FileChunk+1))
	half, err := s.StageFile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := half.Write(bytes.Repeat([]byte("y"), store.FileChunk)); err != nil {
		t.Fatal(err)
	}
	wantStaged(t, s, 2, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, path, store.Options{NoSync: true})
	wantStaged(t, s, 0, 0)
	if keys, err := s.KeyCounts(); err != nil || keys["file_data"] != 0 {
		t.Fatalf("after reopening: %d file_data keys (%v), want none", keys["file_data"], err)
	}

}
