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
	})
}
