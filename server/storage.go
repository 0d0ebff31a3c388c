package server

import (
	"context"
	"path/filepath"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/cluster"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/admin"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/plugins/webhooks"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/transports/native"
)

// backend is what the gateway needs of its store: the bbolt file
// (store.Store) or a PostgreSQL database (pgstore.Store).
type backend interface {
	engine.Log
	engine.Statuses
	admin.Store
	webhooks.Outbox
	lifecycle.Store
	SessionKey() []byte
	Ping(ctx context.Context) error
	Close() error
}

// openStore opens the store cfg names and sets s.db, s.stage and s.stats
// (and s.store for bbolt).
func (s *Server) openStore(cfg config.Config, o Options) (backend, error) {
	if cfg.Store.Postgres != "" {
		return s.openPostgres(cfg, o)
	}
	st, err := store.Open(filepath.Join(cfg.Data, DBFile), store.Options{
		NoSync:        o.NoSync,
		ObserveCommit: s.metrics.ObserveCommit,
	})
	if err != nil {
		return nil, err
	}
	s.db, s.store = st, st
	s.stage = func(ctx context.Context) (native.Staged, error) {
		f, err := st.StageFile(ctx)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	s.stats = st.Stats
	return st, nil
}

// engineLog is the log the engine follows: the store's own commits, and
// on a cluster the other nodes' too.
func (s *Server) engineLog() engine.Log {
	if s.cluster == nil || s.cluster.node == nil {
		return s.db
	}
	f := followCluster{backend: s.db, node: s.cluster.node}
	if sl, ok := s.db.(engine.SeatedLog); ok {
		return seatedFollowCluster{f, sl}
	}
	return f
}

// seatedFollowCluster is followCluster over a store that checks agents'
// seats (PostgreSQL): the nodes' engines assign at once, and only the
// store sees every seat.
type seatedFollowCluster struct {
	followCluster
	engine.SeatedLog
}

// followCluster is the store whose Follow merges the other nodes' commits
// (cluster.Node.Follow) into the store's own.
type followCluster struct {
	backend
	node *cluster.Node
}

func (f followCluster) Follow() (<-chan *model.Batch, error) {
	local, err := f.backend.Follow()
	if err != nil {
		return nil, err
	}
	return f.node.Follow(context.Background(), local), nil
}

// present reports whether an agent has a socket or a long-poll open here,
// or on another node of the cluster.
func (s *Server) present(agentID string) bool {
	if s.bus.Subscribers(bus.AgentTopic(agentID)) > 0 {
		return true
	}
	if s.cluster == nil || s.cluster.node == nil {
		return false
	}
	// Cut off from NATS, this node cannot hear where agents are: it takes
	// them as present rather than turn away every agent of the other nodes
	// after a NATS outage of a minute.
	return !s.cluster.node.Connected() || s.cluster.node.Present(agentID)
}

// leads reports whether this gateway routes, sweeps and delivers webhooks:
// always alone, the leader's only on a shared store.
func (s *Server) leads() bool { return s.cluster == nil || s.cluster.leading.Load() }

func (s *Server) statusChosen(agentID string, status model.AgentStatus) {
	if s.cluster != nil && s.cluster.node != nil {
		s.cluster.node.PublishStatus(agentID, status)
	}
}

func (s *Server) ephemeral(c *model.Chat, evs []model.Event) {
	if s.cluster != nil && s.cluster.node != nil {
		s.cluster.node.PublishEphemeral(c, evs)
	}
}

// whileLeading runs fn while this gateway leads, with a context that ends
// when it stops leading (or ctx ends), until ctx ends.
func (s *Server) whileLeading(ctx context.Context, fn func(context.Context)) {
	if s.cluster == nil {
		fn(ctx)
		return
	}
	for {
		changed := s.cluster.changed()
		if s.cluster.leading.Load() {
			lctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); fn(lctx) }()
			for s.cluster.leading.Load() && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-changed:
					changed = s.cluster.changed()
				}
			}
			cancel()
			<-done
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// statusReload is how often a cluster node reads the agents' statuses
// from the store, in case it missed a broadcast.
const statusReload = 10 * time.Second
