package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/store"
)

// TestCompact erases a visitor whose file fills much of the store, then
// compacts the stopped store: the file shrinks, the erased bytes are no
// longer anywhere in it, and what was kept is whole.
func TestCompact(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	path := filepath.Join(data, server.DBFile)
	s, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("ERASED-PASSPORT-SCAN-")
	secret := bytes.Repeat(marker, 200_000/len(marker))
	for i, content := range [][]byte{secret, []byte("kept file")} {
		id := fmt.Sprintf("chat%d", i)
		_, _, err := s.CreateChat(ctx, model.NewChat{Chat: model.Chat{ID: id, Deployment: "demo", Mode: "async",
			State: model.StateQueued, IdentityID: "idn-" + id}, Identity: &model.Identity{ID: "idn-" + id},
			Events: []model.Event{{Type: model.EventParticipantJoined}}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := json.Marshal(map[string]string{"file-id": "file-" + id})
		_, _, _, err = s.AddFile(ctx, id, "", model.File{ID: "file-" + id, Name: "a.txt"}, content,
			func(*model.Chat) ([]model.Event, error) {
				return []model.Event{{Type: model.EventFileUploaded, Data: d}}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.EraseIdentity(ctx, "idn-chat0", nil); err != nil {
		t.Fatal(err)
	}

	// Not while the store is open.
	var out, errOut bytes.Buffer
	if err := run([]string{"compact", "--data", data}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "stop the gateway first") {
		t.Errorf("compact of an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	t.Logf("erased bytes still in the file's free pages before compacting: %v", bytes.Contains(before, marker))

	if err := run([]string{"compact", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("compact: %v (%s)", err, errOut.String())
	}
	after, _ := os.ReadFile(path)
	if len(after) >= len(before) || bytes.Contains(after, marker) || !strings.Contains(out.String(), "compacted") {
		t.Errorf("compacted %d → %d bytes, marker left: %v, said %q", len(before), len(after), bytes.Contains(after, marker), out.String())
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("bbolt consistency after compact: %v", err)
	}
	if _, content, err := s.FileContent(ctx, "file-chat1"); err != nil || string(content) != "kept file" {
		t.Errorf("kept file after compact: %q, %v", content, err)
	}
	if _, err := s.Chat(ctx, "chat1"); err != nil {
		t.Errorf("kept chat after compact: %v", err)
	}
}
