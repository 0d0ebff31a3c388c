package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

var errTooMany = errors.New("too many files")

// fileFn appends one FileUploaded event, refusing when the chat already
// holds max files; seen records the counts it was shown.
func fileFn(max int, seen *[]uint32) model.MutateFunc {
	return func(c *model.Chat) ([]model.Event, error) {
		if seen != nil {
			*seen = append(*seen, c.Files)
		}
		if int(c.Files) >= max {
			return nil, errTooMany
		}
		return []model.Event{{Type: model.EventFileUploaded, From: model.Party{ID: "v1", Type: model.PartyClient},
			Text: "a.txt", Time: 1_700_000_000_000}}, nil
	}
}

func TestAddFile(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		var mu sync.Mutex
		var committed []model.Committed
		s, path := newFollowedStore(t, func(c []model.Committed) {
			mu.Lock()
			committed = append(committed, c...)
			mu.Unlock()
		})
		mustCreateChat(t, s, "c1")
		mustAppend(t, s, "c1", "hello")
		content := []byte("hello, file\n")
		c, evs, replayed, err := s.AddFile(ctx, "c1", "", model.File{ID: "f1", Name: "a.txt", Type: "text/plain; charset=utf-8"},
			content, fileFn(10, nil))
		if err != nil || replayed {
			t.Fatalf("AddFile: replayed=%v err=%v", replayed, err)
		}
		if len(evs) != 1 || evs[0].Type != model.EventFileUploaded || evs[0].Seq != 2 {
			t.Fatalf("events = %+v, want one FileUploaded at seq 2", evs)
		}
		if c.Files != 1 {
			t.Errorf("returned chat Files = %d, want 1", c.Files)
		}
		mu.Lock()
		if last := committed[len(committed)-1]; last.Chat.Files != 1 || len(last.Events) != 1 || last.Events[0].Seq != 2 {
			t.Errorf("commit hook got %+v last, want the file's event with Files 1", last)
		}
		mu.Unlock()
		check := func(s *store.Store) {
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
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		check(openTestStore(t, path, store.Options{}))
	})

	t.Run("ErrUnknownFile", func(t *testing.T) {
		s, _ := newTestStore(t, store.Options{})
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
		s, _ := newTestStore(t, store.Options{})
		mustCreateChat(t, s, "c1")
		cases := []struct {
			name string
			id   string
			fn   model.MutateFunc
		}{
			{"fn refuses", "f-refused", fileFn(0, nil)},
			{"no FileUploaded event", "f-noevent", appendFn(message("not a file"))},
		}
		for _, tc := range cases {
			if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: tc.id}, []byte("x"), tc.fn); err == nil {
				t.Errorf("%s: AddFile succeeded", tc.name)
			}
			if _, err := s.FileInfo(ctx, tc.id); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("%s: the file was stored: %v", tc.name, err)
			}
		}
		// A file id already taken aborts the second upload, event included.
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "dup"}, []byte("one"), fileFn(10, nil)); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "dup"}, []byte("two"), fileFn(10, nil)); err == nil {
			t.Error("second AddFile with the same file id succeeded")
		}
		_, data, err := s.FileContent(ctx, "dup")
		if err != nil || string(data) != "one" {
			t.Errorf("dup content = %q, %v; want the first", data, err)
		}
		ch, err := s.Chat(ctx, "c1")
		if err != nil || ch.Files != 1 || ch.LastSeq != 1 {
			t.Errorf("chat = Files %d LastSeq %d (%v), want 1 file and 1 event", ch.Files, ch.LastSeq, err)
		}
		if _, _, _, err := s.AddFile(ctx, "nochat", "", model.File{ID: "f9"}, []byte("x"), fileFn(10, nil)); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("AddFile to an unknown chat: %v, want ErrNotFound", err)
		}
	})

	t.Run("Replay", func(t *testing.T) {
		s, _ := newTestStore(t, store.Options{})
		mustCreateChat(t, s, "c1")
		_, first, _, err := s.AddFile(ctx, "c1", "req-1", model.File{ID: "f1"}, []byte("x"), fileFn(10, nil))
		if err != nil {
			t.Fatal(err)
		}
		_, again, replayed, err := s.AddFile(ctx, "c1", "req-1", model.File{ID: "f2"}, []byte("y"), fileFn(10, nil))
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
		s, _ := newTestStore(t, store.Options{})
		mustCreateChat(t, s, "c1")
		const max, tries = 5, 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		for i := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: fmt.Sprintf("f%d", i)}, []byte{byte(i)}, fileFn(max, nil))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, errTooMany):
					refused++
				default:
					t.Errorf("AddFile: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok != max || refused != tries-max {
			t.Errorf("%d stored, %d refused; want %d and %d", ok, refused, max, tries-max)
		}
		ch, err := s.Chat(ctx, "c1")
		if err != nil || ch.Files != max || ch.LastSeq != max {
			t.Errorf("chat = Files %d LastSeq %d (%v), want %d", ch.Files, ch.LastSeq, err, max)
		}
		var seen []uint32
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "last"}, []byte("x"), fileFn(max, &seen)); !errors.Is(err, errTooMany) {
			t.Errorf("upload over the limit: %v", err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != max {
			t.Errorf("fn saw counts %v, want %d", seen, max)
		}
	})
}

// TestFileChunks: a file is kept in 64 KiB chunks, read whole by
// FileContent and a chunk at a time by FileReader; a file kept whole (as
// before chunks) reads the same.
func TestFileChunks(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, store.Options{})
	mustCreateChat(t, s, "c1")
	content := make([]byte, 3*store.FileChunk+123)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "big", Name: "b.bin"}, content, fileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if n := store.FileDataKeys(s, "big"); n != 4 {
		t.Fatalf("%d chunks for %d bytes, want 4", n, len(content))
	}
	if err := store.PutLegacyFileData(s, "old", content); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"big", "old"} {
		r := s.FileReader(model.File{ID: id, Size: int64(len(content))})
		buf := make([]byte, 1000) // reads smaller than a chunk
		var got []byte
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: read: %v", id, err)
				}
				break
			}
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s: FileReader read %d bytes, not the content", id, len(got))
		}
	}
	if _, data, err := s.FileContent(ctx, "big"); err != nil || !bytes.Equal(data, content) {
		t.Errorf("FileContent: %d bytes, %v", len(data), err)
	}
}
