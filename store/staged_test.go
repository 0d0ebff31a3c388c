package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// stage writes content to a new staged file, in pieces of 1000 bytes.
func stage(t *testing.T, s *store.Store, content []byte) *store.StagedFile {
	t.Helper()
	w, err := s.StageFile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for p := content; len(p) > 0; {
		n := min(len(p), 1000)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w
}

func wantStaged(t *testing.T, s *store.Store, files, chunks int) {
	t.Helper()
	f, c, err := s.StagedCount()
	if err != nil || f != files || c != chunks {
		t.Fatalf("staged: %d files, %d chunks (%v), want %d and %d", f, c, err, files, chunks)
	}
}

// TestStagedFile_Adopted: a file staged chunk by chunk becomes the file's
// content in the transaction that adds it, read back byte for byte; the
// Discard that follows every upload then deletes nothing.
func TestStagedFile_Adopted(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, store.Options{NoSync: true})
	mustCreateChat(t, s, "c1")
	content := bytes.Repeat([]byte("0123456789abcdef"), 3*store.FileChunk/16+100) // 3 chunks and a bit
	w := stage(t, s, content)
	wantStaged(t, s, 1, 4)
	if w.Size() != int64(len(content)) || !bytes.Equal(w.Head(), content[:512]) {
		t.Fatalf("size %d, head of %d bytes, want %d and the first 512", w.Size(), len(w.Head()), len(content))
	}
	_, evs, _, err := s.AddStagedFile(ctx, "c1", "req-1", model.File{ID: w.ID(), Name: "a.txt", Size: w.Size()}, fileFn(10, nil))
	if err != nil || len(evs) != 1 {
		t.Fatalf("AddStagedFile: %v, %d events", err, len(evs))
	}
	if err := w.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	wantStaged(t, s, 0, 0)
	f, err := s.FileInfo(ctx, w.ID())
	if err != nil || f.Size != int64(len(content)) || f.ChatID != "c1" || f.Seq != evs[0].Seq {
		t.Fatalf("FileInfo: %+v %v", f, err)
	}
	got, err := io.ReadAll(s.FileReader(f))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content: %d bytes (%v), want the %d staged", len(got), err, len(content))
	}

	// A retry of the same request adopts nothing; its Discard deletes it.
	again := stage(t, s, []byte("retry"))
	_, evs2, replayed, err := s.AddStagedFile(ctx, "c1", "req-1", model.File{ID: again.ID(), Size: again.Size()}, fileFn(10, nil))
	if err != nil || !replayed || len(evs2) != 1 || evs2[0].Seq != evs[0].Seq {
		t.Fatalf("replay: replayed=%v %v %+v", replayed, err, evs2)
	}
	if err := again.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	wantStaged(t, s, 0, 0)
	if _, err := s.FileInfo(ctx, again.ID()); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("the replayed upload's file: %v, want not found", err)
	}
	// Refused by the chat's rule: nothing is adopted either.
	refused := stage(t, s, []byte("refused"))
	if _, _, _, err := s.AddStagedFile(ctx, "c1", "", model.File{ID: refused.ID(), Size: refused.Size()}, fileFn(1, nil)); !errors.Is(err, errTooMany) {
		t.Fatalf("AddStagedFile past the chat's files: %v", err)
	}
	wantStaged(t, s, 1, 1)
	if err := refused.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	wantStaged(t, s, 0, 0)
	keys, err := s.KeyCounts()
	if err != nil {
		t.Fatal(err)
	}
	if keys["file_data"] != 4 || keys["files"] != 1 {
		t.Errorf("%d file_data keys and %d files, want the adopted file's 4 chunks and 1", keys["file_data"], keys["files"])
	}
}

// TestStagedFile_CrashLeavesNothing: content staged by a process that
// stopped before the upload ended (no Discard ran) is gone after the next
// Open; a discarded file refuses further writes.
func TestStagedFile_CrashLeavesNothing(t *testing.T) {
	s, path := newTestStore(t, store.Options{NoSync: true})
	stage(t, s, bytes.Repeat([]byte("x"), 2*store.FileChunk+1))
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

	w := stage(t, s, []byte("short"))
	if err := w.Discard(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("z"), store.FileChunk)); !errors.Is(err, store.ErrNotStaged) {
		t.Errorf("write after Discard: %v, want ErrNotStaged", err)
	}
	wantStaged(t, s, 0, 0)
}

// TestSweepStaged deletes the staged files older than its cutoff and only
// those.
func TestSweepStaged(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, store.Options{NoSync: true})
	stage(t, s, []byte("one"))
	stage(t, s, bytes.Repeat([]byte("two"), store.FileChunk))
	if n, err := s.SweepStaged(ctx, time.Now().Add(-store.StagedTTL)); err != nil || n != 0 {
		t.Fatalf("sweep of files younger than the TTL: %d deleted (%v), want 0", n, err)
	}
	wantStaged(t, s, 2, 4)
	if n, err := s.SweepStaged(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("sweep of older files: %d deleted (%v), want 2", n, err)
	}
	wantStaged(t, s, 0, 0)
}
