package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/storetest"
)

// TestAddFile_Committed: the engine's follower is handed the file's event
// with the chat's new count, as the commit of any write. The suite checks
// the rest of AddFile.
func TestAddFile_Committed(t *testing.T) {
	var mu sync.Mutex
	var committed []model.Committed
	s, _ := newFollowedStore(t, func(c []model.Committed) {
		mu.Lock()
		committed = append(committed, c...)
		mu.Unlock()
	})
	mustCreateChat(t, s, "c1")
	mustAppend(t, s, "c1", "hello")
	if _, _, _, err := s.AddFile(context.Background(), "c1", "", model.File{ID: "f1", Name: "a.txt"}, []byte("x"), storetest.FileFn(10, nil)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := committed[len(committed)-1]; last.Chat.Files != 1 || len(last.Events) != 1 || last.Events[0].Seq != 2 {
		t.Errorf("commit hook got %+v last, want the file's event with Files 1", last)
	}
}

// TestFileChunks_Legacy: a file kept whole, as before chunks, reads as a
// chunked one does. The suite checks chunked files.
func TestFileChunks_Legacy(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	content := make([]byte, 3*store.FileChunk+123)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if err := store.PutLegacyFileData(s, "old", content); err != nil {
		t.Fatal(err)
	}
	r := s.FileReader(model.File{ID: "old", Size: int64(len(content))})
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
}
