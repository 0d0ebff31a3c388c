package server

import (
	"testing"

	"github.com/cxgate/cxgate/cluster"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/pgstore"
)

// TestEngineLogSeated: the log the engine writes through checks agents'
// seats on PostgreSQL, also when the cluster's follower wraps the store
// (an embedded interface would hide MutateSeated), and not on bbolt. Only
// the stores' types matter: nothing is called.
func TestEngineLogSeated(t *testing.T) {
	var pg *pgstore.Store
	var bolt *store.Store
	for _, c := range []struct {
		name   string
		s      *Server
		seated bool
	}{
		{"postgres", &Server{db: pg, cluster: &clustering{}}, true},
		{"postgres cluster", &Server{db: pg, cluster: &clustering{node: new(cluster.Node)}}, true},
		{"bbolt", &Server{db: bolt}, false},
	} {
		if _, ok := c.s.engineLog().(engine.SeatedLog); ok != c.seated {
			t.Errorf("%s: the engine's log is a SeatedLog: %v, want %v", c.name, ok, c.seated)
		}
	}
}
