package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/model"
)

func testAddFile(t *testing.T, b Backend) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		s, dir := open(t, b)
		mustCreateChat(t, s, "c1")
		content := []byte("hello, file\n")
		c, evs, replayed, err := s.AddFile(ctx, "c1", "", model.File{ID: "f1", Name: "a.txt", Type: "text/plain; charset=utf-8"},
			content, FileFn(10, nil))
		if err != nil || replayed {
			t.Fatalf("AddFile: replayed=%v err=%v", replayed, err)
		}
		if len(evs) != 1 || evs[0].Type != model.EventFileUploaded || evs[0].Seq != 2 {
			t.Fatalf("events = %+v, want one FileUploaded at seq 2", evs)
		}
		if c.Files != 1 {
			t.Errorf("returned chat Files = %d, want 1", c.Files)
		}
		check := func(s Store) {
			t.Helper()
			f, data, err := s.FileContent(ctx, "f1")
			if err != nil {
				t.Fatal(err)
			}
			if f.ChatID != "c1" || f.Seq != 2 || f.Size != int64(len(content)) || f.Name != "a.txt" {
				t.Errorf("file = %+v, want chat c1, seq 2, size %d", f, len(content))
			}
			if !bytes.Equal(data, content) {
				t.Errorf("content = %q, want %q", data, content)
			}
			info, err := s.FileInfo(ctx, "f1")
			if err != nil || info != f {
				t.Errorf("FileInfo = %+v, %v; want %+v", info, err, f)
			}
			ch, err := s.Chat(ctx, "c1")
			if err != nil || ch.Files != 1 || ch.LastSeq != 2 {
				t.Errorf("chat = Files %d LastSeq %d (%v), want 1 and 2", ch.Files, ch.LastSeq, err)
			}
		}
		check(s)
		// Another gateway reads it, or the store reopened where there is
		// only one.
		if !b.Shared {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		check(b.Open(t, dir))
	})

	t.Run("ErrUnknownFile", func(t *testing.T) {
		s, _ := open(t, b)
		if _, err := s.FileInfo(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("FileInfo: %v, want ErrNotFound", err)
		}
		if _, _, err := s.FileContent(ctx, ""); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("FileContent: %v, want ErrNotFound", err)
		}
	})

	// Nothing of a refused or failed upload is written: neither the file nor
	// its event nor the count.
	t.Run("Atomic", func(t *testing.T) {
		s, _ := open(t, b)
		mustCreateChat(t, s, "c1")
		cases := []struct {
			name string
			id   string
			fn   model.MutateFunc
		}{
			{"fn refuses", "f-refused", FileFn(0, nil)},
			{"no FileUploaded event", "f-noevent", appendFn(message("not a file"))},
		}
		for _, tc := range cases {
			if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: tc.id}, []byte("x"), tc.fn); err == nil {
				t.Errorf("%s: AddFile succeeded", tc.name)
			}
			if _, err := s.FileInfo(ctx, tc.id); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("%s: the file was stored: %v", tc.name, err)
			}
			if n, err := b.FileChunks(s, tc.id); err != nil || n != 0 {
				t.Errorf("%s: %d chunks stored (%v)", tc.name, n, err)
			}
		}
		// A file id already taken aborts the second upload, event included.
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "dup"}, []byte("one"), FileFn(10, nil)); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "dup"}, []byte("two"), FileFn(10, nil)); !errors.Is(err, model.ErrExists) {
			t.Errorf("second AddFile with the same file id: %v, want ErrExists", err)
		}
		_, data, err := s.FileContent(ctx, "dup")
		if err != nil || string(data) != "one" {
			t.Errorf("dup content = %q, %v; want the first", data, err)
		}
		ch, err := s.Chat(ctx, "c1")
		if err != nil || ch.Files != 1 || ch.LastSeq != 2 {
			t.Errorf("chat = Files %d LastSeq %d (%v), want 1 file and 2 events", ch.Files, ch.LastSeq, err)
		}
		if _, _, _, err := s.AddFile(ctx, "nochat", "", model.File{ID: "f9"}, []byte("x"), FileFn(10, nil)); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("AddFile to an unknown chat: %v, want ErrNotFound", err)
		}
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{}, []byte("x"), FileFn(10, nil)); err == nil {
			t.Error("AddFile without a file id succeeded")
		}
	})

	t.Run("Replay", func(t *testing.T) {
		s, dir := open(t, b)
		mustCreateChat(t, s, "c1")
		_, first, _, err := s.AddFile(ctx, "c1", "req-1", model.File{ID: "f1"}, []byte("x"), FileFn(10, nil))
		if err != nil {
			t.Fatal(err)
		}
		// The retry reaches another gateway, where there are several.
		other := s
		if b.Shared {
			other = b.Open(t, dir)
		}
		_, again, replayed, err := other.AddFile(ctx, "c1", "req-1", model.File{ID: "f2"}, []byte("y"), FileFn(10, nil))
		if err != nil || !replayed || len(again) != 1 || again[0].Seq != first[0].Seq {
			t.Fatalf("retry: replayed=%v events=%+v err=%v; want the first attempt's", replayed, again, err)
		}
		if _, err := s.FileInfo(ctx, "f2"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("a replayed upload stored its file: %v", err)
		}
		if ch, _ := s.Chat(ctx, "c1"); ch.Files != 1 {
			t.Errorf("Files = %d, want 1", ch.Files)
		}
	})

	// Concurrent uploads share transactions; the count still admits exactly
	// the limit.
	t.Run("Count", func(t *testing.T) {
		s, _ := open(t, b)
		mustCreateChat(t, s, "c1")
		const max, tries = 5, 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		for i := range tries {
			wg.Go(func() {
				_, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: fmt.Sprintf("f%d", i)}, []byte{byte(i)}, FileFn(max, nil))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrTooMany):
					refused++
				default:
					t.Errorf("AddFile: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != max || refused != tries-max {
			t.Errorf("%d stored, %d refused; want %d and %d", ok, refused, max, tries-max)
		}
		ch, err := s.Chat(ctx, "c1")
		if err != nil || ch.Files != max || ch.LastSeq != max+1 {
			t.Errorf("chat = Files %d LastSeq %d (%v), want %d and %d", ch.Files, ch.LastSeq, err, max, max+1)
		}
		var seen []uint32
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "last"}, []byte("x"), FileFn(max, &seen)); !errors.Is(err, ErrTooMany) {
			t.Errorf("upload over the limit: %v", err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != max {
			t.Errorf("fn saw counts %v, want %d", seen, max)
		}
	})

}

// testFileChunks: a file is kept in 64 KiB chunks, read whole by
// FileContent and a chunk at a time by FileReader, in reads smaller or
// larger than a chunk; an empty file has one empty chunk.
func testFileChunks(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	mustCreateChat(t, s, "c1")
	content := make([]byte, 3*b.FileChunk+123)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "big", Name: "b.bin"}, content, FileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.FileChunks(s, "big"); err != nil || n != 4 {
		t.Fatalf("%d chunks for %d bytes (%v), want 4", n, len(content), err)
	}
	f, err := s.FileInfo(ctx, "big")
	if err != nil || f.Size != int64(len(content)) {
		t.Fatalf("FileInfo: %+v, %v", f, err)
	}
	r := s.FileReader(f)
	buf := make([]byte, 1000) // reads smaller than a chunk
	var got []byte
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("read: %v", err)
			}
			break
		}
	}
	if !bytes.Equal(got, content) {
		t.Errorf("FileReader read %d bytes, not the content", len(got))
	}
	if got := ReadAll(t, b.FileChunk, s.FileReader(f)); !bytes.Equal(got, content) {
		t.Errorf("FileReader in large reads read %d bytes, not the content", len(got))
	}
	if _, data, err := s.FileContent(ctx, "big"); err != nil || !bytes.Equal(data, content) {
		t.Errorf("FileContent: %d bytes, %v", len(data), err)
	}

	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "empty"}, nil, FileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.FileChunks(s, "empty"); err != nil || n != 1 {
		t.Errorf("%d chunks for an empty file (%v), want 1", n, err)
	}
	if data, err := io.ReadAll(s.FileReader(model.File{ID: "empty"})); err != nil || len(data) != 0 {
		t.Errorf("empty file read %d bytes, %v", len(data), err)
	}
	// A reader of more than is stored says so rather than end short.
	if _, err := io.ReadAll(s.FileReader(model.File{ID: "big", Size: f.Size + 10})); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("read past the content: %v, want an error", err)
	}
}
