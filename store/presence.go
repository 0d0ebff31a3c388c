package store

import (
	"context"
	"fmt"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// bucketPresence keeps each agent's last chosen status (agent id → status),
// so that a restart gives agents who were online their grace period instead
// of turning them offline while they hold chats.
var bucketPresence = []byte("presence")

// AgentStatuses returns the stored status of every agent that has one.
func (s *Store) AgentStatuses(ctx context.Context) (map[string]model.AgentStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := map[string]model.AgentStatus{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPresence)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			m[string(k)] = model.AgentStatus(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read agent statuses: %w", err)
	}
	return m, nil
}

// SetAgentStatus stores an agent's status.
func (s *Store) SetAgentStatus(ctx context.Context, agentID string, status model.AgentStatus) error {
	if agentID == "" {
		return fmt.Errorf("store: agent status without an agent id")
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPresence)
		if err != nil {
			return err
		}
		return b.Put([]byte(agentID), []byte(status))
	}
	if err := s.submit(ctx, o); err != nil {
		return fmt.Errorf("store: set agent %s status: %w", agentID, err)
	}
	return nil
}
