package store_test

import (
	"path/filepath"
	"testing"

	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/logtest"
)

// openConformance opens the bbolt store in dir for the conformance suite.
func openConformance(dir string) (logtest.Log, error) {
	return store.Open(filepath.Join(dir, "cxgate.db"), store.Options{})
}

// TestConformance runs the event log's conformance suite on bbolt.
func TestConformance(t *testing.T) { logtest.Run(t, openConformance) }
