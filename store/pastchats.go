package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// An agent's past chats: when a chat ends, each of its participants gets an
// agent_chats key, participant id ‖ 0 ‖ uint64 endedAt ‖ chat id, so the
// chats an agent took part in read newest first without a scan of every
// chat. Removing the chat (retention, erasure) removes its keys, found from
// its participants and end (unpastChat). Chats that ended before the index
// existed are not in it.
var bucketAgentChats = []byte("agent_chats")

func agentChatKey(agentID string, endedAt int64, chatID string) []byte {
	k := make([]byte, 0, len(agentID)+9+len(chatID))
	k = append(append(k, agentID...), 0)
	k = binary.BigEndian.AppendUint64(k, uint64(max(endedAt, 0)))
	return append(k, chatID...)
}

// indexPastChat writes c's agent_chats keys; c has just ended.
func indexPastChat(tx *bolt.Tx, c *model.Chat) error {
	for _, p := range c.Participants {
		if p.ID == "" {
			continue
		}
		if err := tx.Bucket(bucketAgentChats).Put(agentChatKey(p.ID, c.EndedAt, c.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// unpastChat deletes c's agent_chats keys, if it has any: c is being
// removed. An ended chat's participants and end no longer change, so they
// name its keys.
func unpastChat(tx *bolt.Tx, c *model.Chat) error {
	if c.State != model.StateEnded {
		return nil
	}
	for _, p := range c.Participants {
		if p.ID == "" {
			continue
		}
		if err := tx.Bucket(bucketAgentChats).Delete(agentChatKey(p.ID, c.EndedAt, c.ID)); err != nil {
			return err
		}
	}
	return nil
}

// PastChats reads up to limit ended chats agentID took part in, most
// recently ended first, after cursor. next is the cursor of the following
// page, zero when there is none.
func (s *Store) PastChats(ctx context.Context, agentID string, after model.PastCursor, limit int) (out []model.Chat, next model.PastCursor, err error) {
	prefix := append([]byte(agentID), 0)
	start := append([]byte(agentID), 1) // just past every key of the agent
	if after.ChatID != "" {
		start = agentChatKey(agentID, after.EndedAt, after.ChatID)
	}
	err = s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketAgentChats).Cursor()
		k, _ := cur.Seek(start)
		if k == nil {
			k, _ = cur.Last()
		} else {
			k, _ = cur.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) >= len(prefix)+8; k, _ = cur.Prev() {
			if len(out) == limit {
				return nil
			}
			endedAt := int64(binary.BigEndian.Uint64(k[len(prefix):]))
			id := string(k[len(prefix)+8:])
			next = model.PastCursor{EndedAt: endedAt, ChatID: id}
			c, err := getChat(tx, id)
			if err != nil {
				continue // removed in this transaction's past; its key goes with the purge
			}
			out = append(out, c)
		}
		next = model.PastCursor{} // the index holds no more
		return nil
	})
	if err != nil {
		return nil, model.PastCursor{}, fmt.Errorf("store: past chats of %s: %w", agentID, err)
	}
	return out, next, nil
}
