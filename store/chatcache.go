package store

import (
	"encoding/json"
	"reflect"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// chatCacheSize bounds the writer's cache of decoded chats.
const chatCacheSize = 16384

// chatCache holds decoded chats for the writer goroutine, which alone reads
// and writes it, so it takes no lock. committed holds chats as last committed;
// pending holds what the transaction being built changed, and becomes
// committed only if that transaction commits: a batch retried after a failed
// write never sees the failed attempt's changes.
type chatCache struct {
	committed map[string]*Chat
	pending   map[string]*Chat
}

func newChatCache() *chatCache {
	return &chatCache{committed: map[string]*Chat{}, pending: map[string]*Chat{}}
}

// load returns a copy of chat id that the caller may change, from the cache
// or the transaction.
func (cc *chatCache) load(tx *bolt.Tx, id string) (Chat, error) {
	if c, ok := cc.pending[id]; ok {
		return cloneChat(c), nil
	}
	if c, ok := cc.committed[id]; ok {
		return cloneChat(c), nil
	}
	c, err := getChat(tx, id)
	if err != nil {
		return Chat{}, err
	}
	cc.pending[id] = &c
	return cloneChat(&c), nil
}

// store records the chat as changed by the current transaction.
func (cc *chatCache) store(c Chat) {
	cp := cloneChat(&c)
	cc.pending[c.ID] = &cp
}

// commit makes the transaction's changes the committed state.
func (cc *chatCache) commit() {
	for id, c := range cc.pending {
		if len(cc.committed) >= chatCacheSize {
			// Evict an arbitrary entry: the writer keeps whatever is hot, and
			// a miss costs one decode.
			for k := range cc.committed {
				delete(cc.committed, k)
				break
			}
		}
		cc.committed[id] = c
	}
	clear(cc.pending)
}

// rollback forgets the transaction's changes.
func (cc *chatCache) rollback() { clear(cc.pending) }

// cloneChat copies c deeply enough that changing the copy (its participants
// in place, most of all) leaves c as it was.
func cloneChat(c *Chat) Chat {
	cp := *c
	cp.Participants = slices.Clone(c.Participants)
	cp.Skills = slices.Clone(c.Skills)
	cp.UserData = slices.Clone(c.UserData)
	return cp
}

// recordChanged reports whether the stored record of a chat must be
// rewritten: anything but its position (LastSeq, LastActivity), which reads
// derive from the events bucket.
func recordChanged(before, after *Chat) bool {
	a, b := *before, *after
	a.LastSeq, a.LastActivity = 0, 0
	b.LastSeq, b.LastActivity = 0, 0
	return !reflect.DeepEqual(a, b)
}

// chatPosition fills in a chat's position from its events bucket: the last
// seq is the bucket's sequence, the last activity the newest event's time.
// Appends do not rewrite the chat record just to move these.
func chatPosition(tx *bolt.Tx, c *Chat) {
	b := tx.Bucket(bucketEvents).Bucket([]byte(c.ID))
	if b == nil {
		return
	}
	c.LastSeq = b.Sequence()
	if k, v := b.Cursor().Last(); k != nil {
		var ev struct {
			Time int64 `json:"time"`
		}
		if json.Unmarshal(v, &ev) == nil && ev.Time > c.LastActivity {
			c.LastActivity = ev.Time
		}
	}
}
