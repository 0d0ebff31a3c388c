package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
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
		s, u := openTest(t)
		mustCreate(t, s, chat("c1", ""))
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
		check := func(s *pgstore.Store) {
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
		other, err := pgstore.Open(ctx, u) // another gateway
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		check(other)
	})

	t.Run("ErrUnknownFile", func(t *testing.T) {
		s, _ := openTest(t)
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
		s, _ := openTest(t)
		mustCreate(t, s, chat("c1", ""))
		cases := []struct {
			name string
			id   string
			fn   model.MutateFunc
		}{
			{"fn refuses", "f-refused", fileFn(0, nil)},
			{"no FileUploaded event", "f-noevent", appendText("not a file")},
		}
		for _, tc := range cases {
			if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: tc.id}, []byte("x"), tc.fn); err == nil {
				t.Errorf("%s: AddFile succeeded", tc.name)
			}
			if _, err := s.FileInfo(ctx, tc.id); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("%s: the file was stored: %v", tc.name, err)
			}
			if n, err := pgstore.ChunkCount(s, tc.id); err != nil || n != 0 {
				t.Errorf("%s: %d chunks stored (%v)", tc.name, n, err)
			}
		}
		// A file id already taken aborts the second upload, event included.
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "dup"}, []byte("one"), fileFn(10, nil)); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "dup"}, []byte("two"), fileFn(10, nil)); !errors.Is(err, model.ErrExists) {
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
		if _, _, _, err := s.AddFile(ctx, "nochat", "", model.File{ID: "f9"}, []byte("x"), fileFn(10, nil)); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("AddFile to an unknown chat: %v, want ErrNotFound", err)
		}
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{}, []byte("x"), fileFn(10, nil)); err == nil {
			t.Error("AddFile without a file id succeeded")
		}
	})

	t.Run("Replay", func(t *testing.T) {
		s, u := openTest(t)
		mustCreate(t, s, chat("c1", ""))
		_, first, _, err := s.AddFile(ctx, "c1", "req-1", model.File{ID: "f1"}, []byte("x"), fileFn(10, nil))
		if err != nil {
			t.Fatal(err)
		}
		// The retry reaches another gateway.
		other, err := pgstore.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		_, again, replayed, err := other.AddFile(ctx, "c1", "req-1", model.File{ID: "f2"}, []byte("y"), fileFn(10, nil))
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
		s, _ := openTest(t)
		mustCreate(t, s, chat("c1", ""))
		const max, tries = 5, 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		for i := range tries {
			wg.Go(func() {
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
		if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "last"}, []byte("x"), fileFn(max, &seen)); !errors.Is(err, errTooMany) {
			t.Errorf("upload over the limit: %v", err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != max {
			t.Errorf("fn saw counts %v, want %d", seen, max)
		}
	})

	// Files of one batch: each sees the count the ones before it left, a
	// file id taken earlier in the batch is refused, the rest commit.
	t.Run("Batch", func(t *testing.T) {
		s, _ := openTest(t)
		mustCreate(t, s, chat("c1", ""))
		res := pgstore.RunFileBatch(s, []pgstore.BatchFile{
			{ChatID: "c1", File: model.File{ID: "b1"}, Content: []byte("one"), Fn: fileFn(2, nil)},
			{ChatID: "c1", File: model.File{ID: "b1"}, Content: []byte("again"), Fn: fileFn(2, nil)},
			{ChatID: "c1", File: model.File{ID: "b2"}, Content: []byte("two"), Fn: fileFn(2, nil)},
			{ChatID: "c1", File: model.File{ID: "b3"}, Content: []byte("three"), Fn: fileFn(2, nil)},
		})
		if res[0].Err != nil || res[2].Err != nil || !errors.Is(res[1].Err, model.ErrExists) || !errors.Is(res[3].Err, errTooMany) {
			t.Fatalf("batch: %v, %v, %v, %v", res[0].Err, res[1].Err, res[2].Err, res[3].Err)
		}
		if res[0].Events[0].Seq != 2 || res[2].Events[0].Seq != 3 || res[2].Chat.Files != 2 {
			t.Fatalf("seqs %d and %d, Files %d; want 2, 3 and 2", res[0].Events[0].Seq, res[2].Events[0].Seq, res[2].Chat.Files)
		}
		for id, want := range map[string]string{"b1": "one", "b2": "two"} {
			if _, data, err := s.FileContent(ctx, id); err != nil || string(data) != want {
				t.Errorf("%s = %q, %v; want %q", id, data, err, want)
			}
		}
	})
}

// readAll reads r to its end with a buffer larger than a chunk, failing if
// any Read returns more than a chunk: the reader holds one chunk at a time.
func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	buf := make([]byte, 4*pgstore.FileChunk)
	var got []byte
	for {
		n, err := r.Read(buf)
		if n > pgstore.FileChunk {
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

// TestFileChunks: a file is kept in 64 KiB chunks, read whole by
// FileContent and a chunk at a time by FileReader, in reads smaller or
// larger than a chunk; an empty file has one empty chunk.
func TestFileChunks(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	mustCreate(t, s, chat("c1", ""))
	content := make([]byte, 3*pgstore.FileChunk+123)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "big", Name: "b.bin"}, content, fileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if n, err := pgstore.ChunkCount(s, "big"); err != nil || n != 4 {
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
	if got := readAll(t, s.FileReader(f)); !bytes.Equal(got, content) {
		t.Errorf("FileReader in large reads read %d bytes, not the content", len(got))
	}
	if _, data, err := s.FileContent(ctx, "big"); err != nil || !bytes.Equal(data, content) {
		t.Errorf("FileContent: %d bytes, %v", len(data), err)
	}

	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "empty"}, nil, fileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if n, err := pgstore.ChunkCount(s, "empty"); err != nil || n != 1 {
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

// TestFileExpiredAndDeleted: content retention deleted is ErrExpired with
// the description; a chat's deletion takes its files and their chunks.
func TestFileExpiredAndDeleted(t *testing.T) {
	ctx := context.Background()
	s, u := openTest(t)
	mustCreate(t, s, chat("c1", ""))
	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "f1", Name: "a"}, bytes.Repeat([]byte("z"), pgstore.FileChunk+1), fileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// As retention expires content: the record says when, the chunks go.
	f, _ := s.FileInfo(ctx, "f1")
	f.Expired = time.Now().UnixMilli()
	if _, err := conn.Exec(ctx, `UPDATE files SET record = $2 WHERE id = $1`, "f1", mustJSON(t, f)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM file_chunks WHERE file_id = 'f1'`); err != nil {
		t.Fatal(err)
	}
	got, data, err := s.FileContent(ctx, "f1")
	if !errors.Is(err, model.ErrExpired) || got.Name != "a" || got.Expired == 0 || data != nil {
		t.Fatalf("expired file: %+v, %d bytes, %v; want its description and ErrExpired", got, len(data), err)
	}

	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "f2"}, bytes.Repeat([]byte("y"), 2*pgstore.FileChunk+1), fileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM chats WHERE id = 'c1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FileInfo(ctx, "f2"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("file of a deleted chat: %v", err)
	}
	if n, err := pgstore.ChunkCount(s, "f2"); err != nil || n != 0 {
		t.Errorf("%d chunks of a deleted chat's file left (%v)", n, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
