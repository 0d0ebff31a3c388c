package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
)

// ErrTooMany is FileFn's refusal.
var ErrTooMany = errors.New("too many files")

// FileFn appends one FileUploaded event, refusing when the chat already
// holds max files; seen records the counts it was shown.
func FileFn(max int, seen *[]uint32) model.MutateFunc {
	return func(c *model.Chat) ([]model.Event, error) {
		if seen != nil {
			*seen = append(*seen, c.Files)
		}
		if int(c.Files) >= max {
			return nil, ErrTooMany
		}
		return []model.Event{{Type: model.EventFileUploaded, From: model.Party{ID: "v1", Type: model.PartyClient},
			Text: "a.txt", Time: 1_700_000_000_000}}, nil
	}
}

// ReadAll reads r to its end with a buffer larger than a chunk, failing if
// any Read returns more than chunk bytes: the reader holds one chunk at a
// time.
func ReadAll(t testing.TB, chunk int, r io.Reader) []byte {
	t.Helper()
	buf := make([]byte, 4*chunk)
	var got []byte
	for {
		n, err := r.Read(buf)
		if n > chunk {
			t.Fatalf("one Read returned %d bytes, more than a chunk", n)
		}
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
}

// Stage writes content to a new staged file of stageFile (a store's
// StageFile, whatever its type), in pieces of 1000 bytes.
func Stage[W Staged](t testing.TB, stageFile func(context.Context) (W, error), content []byte) W {
	t.Helper()
	w, err := stageFile(context.Background())
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

func wantStaged(t *testing.T, s Store, files, chunks int) {
	t.Helper()
	f, c, err := s.StagedCount()
	if err != nil || f != files || c != chunks {
		t.Fatalf("staged: %d files, %d chunks (%v), want %d and %d", f, c, err, files, chunks)
	}
}

// testStagedFileAdopted: a file staged chunk by chunk becomes the file's
// content in the transaction that adds it, read back byte for byte; the
// Discard that follows every upload then deletes nothing.
func testStagedFileAdopted(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	mustCreateChat(t, s, "c1")
	content := bytes.Repeat([]byte("0123456789abcdef"), 3*b.FileChunk/16+100) // 3 chunks and a bit
	w := Stage(t, s.StageFile, content)
	wantStaged(t, s, 1, 4)
	if w.Size() != int64(len(content)) || !bytes.Equal(w.Head(), content[:512]) {
		t.Fatalf("size %d, head of %d bytes, want %d and the first 512", w.Size(), len(w.Head()), len(content))
	}
	_, evs, _, err := s.AddStagedFile(ctx, "c1", "req-1", model.File{ID: w.ID(), Name: "a.txt", Size: w.Size()}, FileFn(10, nil))
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
	if got := ReadAll(t, b.FileChunk, s.FileReader(f)); !bytes.Equal(got, content) {
		t.Fatalf("content: %d bytes, want the %d staged", len(got), len(content))
	}
	if n, err := b.FileChunks(s, w.ID()); err != nil || n != 4 {
		t.Fatalf("the adopted file has %d chunks (%v), want 4", n, err)
	}
	// Adopted once: a second adoption of the same content is refused.
	if _, _, _, err := s.AddStagedFile(ctx, "c1", "", model.File{ID: w.ID(), Size: w.Size()}, FileFn(10, nil)); !errors.Is(err, b.ErrNotStaged) {
		t.Fatalf("second adoption: %v, want ErrNotStaged", err)
	}

	// A retry of the same request adopts nothing; its Discard deletes it.
	again := Stage(t, s.StageFile, []byte("retry"))
	_, evs2, replayed, err := s.AddStagedFile(ctx, "c1", "req-1", model.File{ID: again.ID(), Size: again.Size()}, FileFn(10, nil))
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
	refused := Stage(t, s.StageFile, []byte("refused"))
	if _, _, _, err := s.AddStagedFile(ctx, "c1", "", model.File{ID: refused.ID(), Size: refused.Size()}, FileFn(1, nil)); !errors.Is(err, ErrTooMany) {
		t.Fatalf("AddStagedFile past the chat's files: %v", err)
	}
	wantStaged(t, s, 1, 1)
	if err := refused.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	if err := refused.Discard(ctx); err != nil {
		t.Fatalf("second Discard: %v", err)
	}
	wantStaged(t, s, 0, 0)
	// Discarded content is no longer staged.
	if _, _, _, err := s.AddStagedFile(ctx, "c1", "", model.File{ID: refused.ID(), Size: refused.Size()}, FileFn(10, nil)); !errors.Is(err, b.ErrNotStaged) {
		t.Fatalf("adoption of discarded content: %v, want ErrNotStaged", err)
	}
	if c, err := s.Chat(ctx, "c1"); err != nil || c.Files != 1 || c.LastSeq != 2 {
		t.Fatalf("chat: Files %d LastSeq %d (%v), want 1 and 2", c.Files, c.LastSeq, err)
	}
}

// testStagedFileLarge: 5 MiB go from an upload's writes to a download's
// reads a chunk at a time, on either gateway.
func testStagedFileLarge(t *testing.T, b Backend) {
	ctx := context.Background()
	s, dir := open(t, b)
	mustCreateChat(t, s, "c1")
	content := make([]byte, 5<<20+17)
	for i := range content {
		content[i] = byte(i*31 + i>>16)
	}
	w, err := s.StageFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for p := content; len(p) > 0; { // writes of an upload's reads
		n := min(len(p), 32<<10+5)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	chunks := (len(content) + b.FileChunk - 1) / b.FileChunk
	wantStaged(t, s, 1, chunks)
	if _, _, _, err := s.AddStagedFile(ctx, "c1", "rq", model.File{ID: w.ID(), Name: "big.bin", Size: w.Size()}, FileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if err := w.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	other := s // another gateway, where the backend has several on one database
	if b.Shared {
		other = b.Open(t, dir)
	}
	f, err := other.FileInfo(ctx, w.ID())
	if err != nil || f.Size != int64(len(content)) {
		t.Fatalf("FileInfo: %+v, %v", f, err)
	}
	if got := ReadAll(t, b.FileChunk, other.FileReader(f)); !bytes.Equal(got, content) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(content))
	}
}

// testStagedFileDiscardedRefusesWrites: a discarded file takes no more
// chunks, and leaves none.
func testStagedFileDiscardedRefusesWrites(t *testing.T, b Backend) {
	s, _ := open(t, b)
	w := Stage(t, s.StageFile, []byte("short"))
	if err := w.Discard(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("z"), b.FileChunk)); !errors.Is(err, b.ErrNotStaged) {
		t.Errorf("write after Discard: %v, want ErrNotStaged", err)
	}
	wantStaged(t, s, 0, 0)
	if n, err := b.FileChunks(s, w.ID()); err != nil || n != 0 {
		t.Errorf("%d chunks left (%v)", n, err)
	}

	// Discarded by another (a sweep) while written: the next chunk fails.
	half, err := s.StageFile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := half.Write(bytes.Repeat([]byte("y"), b.FileChunk)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SweepStaged(context.Background(), time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if _, err := half.Write(bytes.Repeat([]byte("y"), b.FileChunk)); !errors.Is(err, b.ErrNotStaged) {
		t.Errorf("write after a sweep: %v, want ErrNotStaged", err)
	}
	if n, err := b.FileChunks(s, half.ID()); err != nil || n != 0 {
		t.Errorf("%d chunks left (%v)", n, err)
	}
}

// testSweepStaged deletes the staged files older than its cutoff and only
// those, more than one transaction's worth.
func testSweepStaged(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	Stage(t, s.StageFile, []byte("one"))
	Stage(t, s.StageFile, bytes.Repeat([]byte("two"), b.FileChunk))
	if n, err := s.SweepStaged(ctx, time.Now().Add(-b.StagedTTL)); err != nil || n != 0 {
		t.Fatalf("sweep of files younger than the TTL: %d deleted (%v), want 0", n, err)
	}
	wantStaged(t, s, 2, 4)
	for range 70 {
		Stage(t, s.StageFile, []byte("x"))
	}
	if n, err := s.SweepStaged(ctx, time.Now().Add(time.Minute)); err != nil || n != 72 {
		t.Fatalf("sweep of older files: %d deleted (%v), want 72", n, err)
	}
	wantStaged(t, s, 0, 0)
}

// testStagedFileEmpty: an empty upload is one empty chunk, adopted as an
// empty file.
func testStagedFileEmpty(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	mustCreateChat(t, s, "c1")
	w := Stage(t, s.StageFile, nil)
	wantStaged(t, s, 1, 1)
	if _, _, _, err := s.AddStagedFile(ctx, "c1", "", model.File{ID: w.ID(), Size: w.Size()}, FileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if _, data, err := s.FileContent(ctx, w.ID()); err != nil || len(data) != 0 {
		t.Fatalf("empty file: %d bytes, %v", len(data), err)
	}
}

// testStagedFileDiscardRacesAdoption: an upload's Discard racing the
// adoption of its content (another gateway's, a timeout's) leaves either
// the whole file or nothing.
func testStagedFileDiscardRacesAdoption(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	mustCreateChat(t, s, "c1")
	adopted := 0
	for range 20 {
		w := Stage(t, s.StageFile, bytes.Repeat([]byte("r"), 2*b.FileChunk+3))
		var (
			wg     sync.WaitGroup
			addErr error
		)
		wg.Go(func() {
			_, _, _, addErr = s.AddStagedFile(ctx, "c1", "", model.File{ID: w.ID(), Size: w.Size()}, FileFn(100, nil))
		})
		wg.Go(func() {
			if err := w.Discard(ctx); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		n, err := b.FileChunks(s, w.ID())
		switch {
		case err != nil:
			t.Fatal(err)
		case addErr == nil:
			adopted++
			if _, data, err := s.FileContent(ctx, w.ID()); err != nil || len(data) != int(w.Size()) || n != 3 {
				t.Fatalf("adopted file: %d bytes in %d chunks, %v", len(data), n, err)
			}
		case errors.Is(addErr, b.ErrNotStaged):
			if n != 0 {
				t.Fatalf("discarded content left %d chunks", n)
			}
		default:
			t.Fatal(addErr)
		}
	}
	wantStaged(t, s, 0, 0)
	t.Logf("%d of 20 adopted before the discard", adopted)
}
