package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/cluster"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/plugins/admin"
)

// clustering is a gateway's part in a cluster: the leadership it competes
// for on the shared store and, with NATS, its node.
type clustering struct {
	name string
	node *cluster.Node // nil without cluster.nats: a single node on PostgreSQL
	// lead competes for the leadership until ctx ends (the store's
	// election), calling leading at each change.
	lead func(ctx context.Context, leading func(bool))
	// file is the configuration file's, under the store's directory.
	file config.Config

	leading   atomic.Bool
	mu        sync.Mutex
	change    chan struct{} // closed and replaced at each leadership change
	reloading atomic.Bool   // a directory change of another node is being applied
}

func newClustering(name string, file config.Config) *clustering {
	return &clustering{name: name, file: file, change: make(chan struct{})}
}

// changed is closed at the next leadership change.
func (c *clustering) changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.change
}

func (c *clustering) setLeading(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leading.Store(v)
	close(c.change)
	c.change = make(chan struct{})
}

// ready fails while the node is cut off from NATS.
func (c *clustering) ready() error {
	if c == nil || c.node == nil || c.node.Connected() {
		return nil
	}
	return errors.New("cluster: NATS unreachable")
}

func (c *clustering) close() {
	if c != nil && c.node != nil {
		c.node.Close()
	}
}

// observeDirectory tells the other nodes of every configuration this node
// puts in force (an admin change), except one it took from them.
func (s *Server) observeDirectory() {
	if s.cluster == nil || s.cluster.node == nil {
		return
	}
	first := true
	s.engine.ObserveConfig(func(*config.Config) {
		if first {
			first = false // the one in force at start
			return
		}
		if !s.cluster.reloading.Load() {
			s.cluster.node.PublishDirectory()
		}
	})
}

// startCluster starts competing for the leadership and, on NATS, takes the
// other nodes' statuses, typing and directory changes.
func (s *Server) startCluster(ctx context.Context) {
	c := s.cluster
	if c == nil {
		return
	}
	s.metrics.Gauge("cxgate_cluster_leader", "1 on the node that routes chats, sweeps and delivers webhooks; 0 elsewhere.",
		map[string]string{"node": c.name}, func() float64 {
			if c.leading.Load() {
				return 1
			}
			return 0
		})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.lead(ctx, func(v bool) {
			c.setLeading(v)
			if v {
				s.logger.Info("cluster: this node leads: it routes, sweeps and delivers webhooks", "node", c.name)
				s.engine.Wake()
			} else {
				s.logger.Info("cluster: this node no longer leads", "node", c.name)
			}
		})
	}()
	if c.node == nil {
		return
	}
	n := c.node
	for _, m := range []struct {
		name, help string
		get        func(cluster.Stats) uint64
	}{
		{"cxgate_cluster_batches_published_total", "Local commit batches published to the other nodes.", func(s cluster.Stats) uint64 { return s.Published }},
		{"cxgate_cluster_batches_received_total", "Commit batches received from the other nodes.", func(s cluster.Stats) uint64 { return s.Received }},
		{"cxgate_cluster_events_filled_total", "Events read from the store to fill gaps NATS left.", func(s cluster.Stats) uint64 { return s.Filled }},
		{"cxgate_cluster_events_dropped_total", "Events received again and dropped.", func(s cluster.Stats) uint64 { return s.Dropped }},
	} {
		s.metrics.Counter(m.name, m.help, func() float64 { return float64(m.get(n.Stats())) })
	}
	n.OnStatus(s.engine.ApplyStatus)
	n.OnEphemeral(s.engine.DeliverEphemeral)
	n.OnRelease(s.engine.ApplyRelease)
	n.OnDirectory(func() {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.reloadDirectory(ctx) }()
	})
	n.Announce(func() []string {
		var ids []string
		for _, a := range s.engine.Config().Agents {
			if s.bus.Subscribers(bus.AgentTopic(a.ID)) > 0 {
				ids = append(ids, a.ID)
			}
		}
		return ids
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(statusReload)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.engine.ReloadStatuses(ctx); err != nil && ctx.Err() == nil {
					s.logger.Warn("cluster: reload agent statuses", "err", err)
				}
			}
		}
	}()
}

// reloadDirectory puts in force the directory another node changed.
func (s *Server) reloadDirectory(ctx context.Context) {
	c := s.cluster
	cfg, err := admin.LoadDirectory(ctx, s.db, c.file, s.logger)
	if err == nil {
		c.reloading.Store(true)
		err = s.engine.SetConfig(ctx, cfg)
		c.reloading.Store(false)
	}
	if err != nil && ctx.Err() == nil {
		s.logger.Error("cluster: reload the directory another node changed", "err", err)
	}
}

// nodeName is the node's name on a shared store, "" alone.
func (s *Server) nodeName() string {
	if s.cluster == nil {
		return ""
	}
	return s.cluster.name
}
