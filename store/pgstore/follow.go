package pgstore

import (
	"errors"

	"github.com/cxgate/cxgate/model"
)

// Follow returns the channel on which the store hands every later commit of
// this Store (its writer's batches and its chat creations) to one follower,
// the engine: a write returns once the follower called its batch's Done.
// The channel closes with the Store. Commits of several transactions may
// arrive out of a chat's seq order (a creation commits beside the writer);
// the cluster's merger puts each chat's events back in order, completing
// them from the store. Other gateways' commits come through the cluster.
func (s *Store) Follow() (<-chan *model.Batch, error) {
	s.followMu.Lock()
	defer s.followMu.Unlock()
	if s.follow != nil || s.followClosed {
		return nil, errors.New("pgstore: the log has a follower already")
	}
	s.follow = make(chan *model.Batch, 16)
	return s.follow, nil
}

// handOff gives the follower what a transaction committed and waits until
// it dispatched it. Without a follower it does nothing.
func (s *Store) handOff(writes []model.Committed) {
	if len(writes) == 0 {
		return
	}
	s.followMu.RLock()
	ch := s.follow
	if ch == nil || s.followClosed {
		s.followMu.RUnlock()
		return
	}
	done := make(chan struct{})
	ch <- model.NewBatch(writes, func() { close(done) })
	s.followMu.RUnlock()
	<-done
}

// closeFollow closes the follower's channel once no commit can be handed
// to it any more.
func (s *Store) closeFollow() {
	s.followMu.Lock()
	defer s.followMu.Unlock()
	if s.follow != nil && !s.followClosed {
		close(s.follow)
	}
	s.followClosed = true
}
