package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

// TestStagedFile_AdoptedOnce: two adoptions of one staged file in a batch:
// the first takes it, the second is ErrNotStaged.
func TestStagedFile_AdoptedOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	mustCreate(t, s, chat("c1", ""))
	w := storetest.Stage(t, s.StageFile, []byte("once"))
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
