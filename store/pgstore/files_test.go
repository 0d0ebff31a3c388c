package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

// TestAddFile_Batch: files of one batch each see the count the ones before
// them left, a file id taken earlier in the batch is refused, the rest
// commit. The suite checks the rest of AddFile.
func TestAddFile_Batch(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	mustCreate(t, s, chat("c1", ""))
	res := pgstore.RunFileBatch(s, []pgstore.BatchFile{
		{ChatID: "c1", File: model.File{ID: "b1"}, Content: []byte("one"), Fn: storetest.FileFn(2, nil)},
		{ChatID: "c1", File: model.File{ID: "b1"}, Content: []byte("again"), Fn: storetest.FileFn(2, nil)},
		{ChatID: "c1", File: model.File{ID: "b2"}, Content: []byte("two"), Fn: storetest.FileFn(2, nil)},
		{ChatID: "c1", File: model.File{ID: "b3"}, Content: []byte("three"), Fn: storetest.FileFn(2, nil)},
	})
	if res[0].Err != nil || res[2].Err != nil || !errors.Is(res[1].Err, model.ErrExists) || !errors.Is(res[3].Err, storetest.ErrTooMany) {
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
}

// TestFileExpiredAndDeleted: content retention deleted is ErrExpired with
// the description; a chat's deletion takes its files and their chunks.
func TestFileExpiredAndDeleted(t *testing.T) {
	ctx := context.Background()
	s, u := openTest(t)
	mustCreate(t, s, chat("c1", ""))
	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "f1", Name: "a"}, bytes.Repeat([]byte("z"), pgstore.FileChunk+1), storetest.FileFn(10, nil)); err != nil {
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

	if _, _, _, err := s.AddFile(ctx, "c1", "", model.File{ID: "f2"}, bytes.Repeat([]byte("y"), 2*pgstore.FileChunk+1), storetest.FileFn(10, nil)); err != nil {
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
