package server

import (
	"context"
	"fmt"
	"time"

	"github.com/cxgate/cxgate/cluster"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/transports/native"
)

// openTimeout bounds connecting to PostgreSQL and migrating its schema at
// start.
const openTimeout = 30 * time.Second

// leaderCheck is how often a node tries for the leadership and the leader
// checks its hold on it: a dead leader is replaced within about twice it.
const leaderCheck = time.Second

// openPostgres opens the shared store and joins the cluster: NATS when
// cluster.nats is set, the leadership election in any case (two gateways
// on one database without NATS still route one at a time).
func (s *Server) openPostgres(cfg config.Config, o Options) (backend, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	pg, err := pgstore.Open(ctx, cfg.Store.Postgres)
	if err != nil {
		return nil, fmt.Errorf("server: store.postgres: %w", err)
	}
	name := cfg.NodeName()
	node, err := cluster.Join(cluster.Options{Node: name, NATS: cfg.Cluster.NATS, Log: pg, Logger: o.Logger,
		Announce: o.ClusterAnnounce})
	if err != nil {
		pg.Close()
		return nil, fmt.Errorf("server: cluster.nats: %w", err)
	}
	s.cluster = newClustering(name, cfg)
	s.cluster.node = node
	s.cluster.lead = func(ctx context.Context, leading func(bool)) {
		pg.Lead(ctx, pgstore.LeadershipKey, leaderCheck, leading)
	}
	s.db = pg
	s.stage = func(ctx context.Context) (native.Staged, error) {
		f, err := pg.StageFile(ctx)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	s.stats = func() store.Stats {
		st := pg.Stats()
		return store.Stats{Commits: st.Commits, Writes: st.Writes}
	}
	return pg, nil
}
