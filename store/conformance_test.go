package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/logtest"
	"github.com/cxgate/cxgate/store/storetest"
)

// openConformance opens the bbolt store in dir for the conformance suite.
func openConformance(dir string) (logtest.Log, error) {
	return store.Open(filepath.Join(dir, "cxgate.db"), store.Options{})
}

// TestConformance runs the event log's conformance suite on bbolt.
func TestConformance(t *testing.T) { logtest.Run(t, openConformance) }

// conformStore is the bbolt store as the store suite sees it: StageFile
// returns its own *StagedFile type.
type conformStore struct{ *store.Store }

func (s conformStore) StageFile(ctx context.Context) (storetest.Staged, error) {
	w, err := s.Store.StageFile(ctx)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// TestStoreConformance runs the store suite on bbolt: each store in its
// directory's cxgate.db, with bbolt's consistency check at cleanup as
// openTestStore does.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t testing.TB, dir string) storetest.Store {
			return conformStore{openTestStore(t, filepath.Join(dir, "cxgate.db"), store.Options{})}
		},
		ErrUnknownKind: store.ErrUnknownKind,
		KeepTokens:     store.DefaultKeepTokens,
		FileChunk:      store.FileChunk,
		StagedTTL:      store.StagedTTL,
		ErrNotStaged:   store.ErrNotStaged,
		FileChunks: func(s storetest.Store, id string) (int, error) {
			return store.FileDataKeys(s.(conformStore).Store, id), nil
		},
		SweptChats:        func(t testing.TB, s storetest.Store) { wantKeys(t, s, sweptChatsKeys) },
		SweptLeftMessages: func(t testing.TB, s storetest.Store) { wantKeys(t, s, sweptLeftKeys) },
	})
}

// sweptChatsKeys are the keys the buckets hold, beyond an empty store's,
// after the suite's chat sweep: those of the chats that stay (and of the
// chats the start keys' checks made), nothing of the deleted ones.
var sweptChatsKeys = map[string]int{"chats": 4 + 3, "purge": 0, "files": 2, "file_data": 1, "identities": 4,
	"identity_chats": 4, "starts": 4 + 3, "tokens": 2 + 16, "log": 3 + 5 + 5 + 2}

// sweptLeftKeys are the keys after the suite's left-message sweep and
// erasure: one message of another identity, in every index of it.
var sweptLeftKeys = map[string]int{"left_messages": 1, "left_open": 1, "left_answered": 0, "identity_left": 1, "identities": 1}

// wantKeys checks the keys of the buckets named in want, counted beyond
// those of a freshly opened store.
func wantKeys(t testing.TB, s storetest.Store, want map[string]int) {
	t.Helper()
	counts, err := s.(conformStore).KeyCounts()
	if err != nil {
		t.Fatal(err)
	}
	empty, err := openTestStore(t, filepath.Join(t.TempDir(), "cxgate.db"), store.Options{}).KeyCounts()
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range want {
		if got := counts[name] - empty[name]; got != n {
			t.Errorf("bucket %s: %d keys, want %d", name, got, n)
		}
	}
}
