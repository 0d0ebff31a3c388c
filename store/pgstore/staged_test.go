package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

// stage writes content to a new staged file, in pieces of 1000 bytes.
func stage(t *testing.T, s *pgstore.Store, content []byte) *pgstore.StagedFile {
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

// TestStagedFile_AdoptedOnce: two adoptions of one staged file in a batch:
// the first takes it, the second is ErrNotStaged.
func TestStagedFile_AdoptedOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	mustCreate(t, s, chat("c1", ""))
	w := stage(t, s, []byte("once"))
	f := model.File{ID: w.ID(), Size: w.Size()}
	res := pgstore.RunFileBatch(s, []pgstore.BatchFile{
		{ChatID: "c1", File: f, Staged: true, Fn: storetest.FileFn(10, nil)},
		{ChatID: "c1", File: f, Staged: true, Fn: storetest.FileFn(10, nil)},
	})
	if res[0].Err != nil || !errors.Is(res[1].Err, pgstore.ErrNotStaged) {
		t.Fatalf("adoptions: %v, %v; want the first only", res[0].Err, res[1].Err)
	}
	if _, data, err := s.FileContent(ctx, w.ID()); err != nil || string(data) != "once" {
		t.Fatalf("adopted file: %q, %v", data, err)
	}
	if c, _ := s.Chat(ctx, "c1"); c.Files != 1 || c.LastSeq != 2 {
		t.Fatalf("chat: Files %d, LastSeq %d; want 1 and 2", c.Files, c.LastSeq)
	}
}
