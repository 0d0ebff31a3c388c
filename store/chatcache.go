package store

import (
	"encoding/json"
	"reflect"
	"slices"

	"github.com/cxgate/cxgate/model"
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
	committed map[string]*model.Chat
	pending   map[string]*model.Chat

	// The request ids of each chat's newest events, for Mutate's retries:
	// committedReqs as committed; pendingReqs what the transaction being
	// built added (its own writes, and what it read from the log for a chat
	// not yet known), merged at commit. A chat in committedReqs has every
	// request of its newest requestWindow events there.
	committedReqs map[string]map[string]request
	pendingReqs   map[string]map[string]request

	deleted map[string]bool // chats the transaction being built removed
}

// requestWindow is how many of a chat's newest events a retried request id
// is recognized among: a client retries within seconds, not after dozens of
// further events in the same chat.
const requestWindow = 64

// request is what one request id appended: first seq and count. A request
// that appended nothing has first = the next seq then and n = 0.
type request struct {
	first uint64
	n     uint32
}

// inWindow reports whether r is among the newest requestWindow events of a
// chat whose last seq is last: its last event is, or (when it appended
// nothing) the seq it would have had.
func (r request) inWindow(last uint64) bool {
	end := r.first + uint64(r.n) // one past its last event
	if r.n == 0 {
		end++
	}
	return last < requestWindow || end > last-requestWindow+1
}

func newChatCache() *chatCache {
	return &chatCache{committed: map[string]*model.Chat{}, pending: map[string]*model.Chat{},
		committedReqs: map[string]map[string]request{}, pendingReqs: map[string]map[string]request{},
		deleted: map[string]bool{}}
}

// request looks up a request id of chat ch. The first lookup of a chat
// reads the request ids of its newest requestWindow events from the log.
func (cc *chatCache) request(log *bolt.Bucket, ch *model.Chat, id string) (request, bool, error) {
	if r, ok := cc.pendingReqs[ch.ID][id]; ok {
		return r, r.inWindow(ch.LastSeq), nil
	}
	if known, ok := cc.committedReqs[ch.ID]; ok {
		r, ok := known[id]
		return r, ok && r.inWindow(ch.LastSeq), nil
	}
	if _, scanned := cc.pendingReqs[ch.ID]; scanned {
		return request{}, false, nil
	}
	found := map[string]request{}
	if ch.LastSeq > 0 {
		after := uint64(0)
		if ch.LastSeq > requestWindow {
			after = ch.LastSeq - requestWindow
		}
		evs, err := readAfter(log, ch.ID, after, requestWindow)
		if err != nil {
			return request{}, false, err
		}
		for _, ev := range evs {
			if ev.RequestID == "" {
				continue
			}
			r, ok := found[ev.RequestID]
			if !ok {
				r.first = ev.Seq
			}
			r.n++
			found[ev.RequestID] = r
		}
	}
	cc.pendingReqs[ch.ID] = found
	r, ok := found[id]
	return r, ok, nil
}

// addRequest records what request id appended to chat chatID in the
// current transaction; request must have been called for the chat first.
func (cc *chatCache) addRequest(chatID, id string, r request) {
	added := cc.pendingReqs[chatID]
	if added == nil {
		added = map[string]request{}
		cc.pendingReqs[chatID] = added
	}
	added[id] = r
}

// load returns a copy of chat id that the caller may change, from the cache
// or the transaction.
func (cc *chatCache) load(tx *bolt.Tx, id string) (model.Chat, error) {
	if cc.deleted[id] {
		return getChat(tx, id)
	}
	if c, ok := cc.pending[id]; ok {
		return cloneChat(c), nil
	}
	if c, ok := cc.committed[id]; ok {
		return cloneChat(c), nil
	}
	c, err := getChat(tx, id)
	if err != nil {
		return model.Chat{}, err
	}
	cc.pending[id] = &c
	return cloneChat(&c), nil
}

// store records the chat as changed by the current transaction.
func (cc *chatCache) store(c model.Chat) {
	cp := cloneChat(&c)
	cc.pending[c.ID] = &cp
}

// commit makes the transaction's changes the committed state.
func (cc *chatCache) commit() {
	for id, c := range cc.pending {
		if len(cc.committed) >= chatCacheSize {
			// Evict an arbitrary entry: the writer keeps whatever is hot, and
			// a miss costs one decode (and a read of its newest requests).
			for k := range cc.committed {
				delete(cc.committed, k)
				delete(cc.committedReqs, k)
				break
			}
		}
		cc.committed[id] = c
	}
	for id, added := range cc.pendingReqs {
		known := cc.committedReqs[id]
		if known == nil {
			known = make(map[string]request, len(added))
			cc.committedReqs[id] = known
		}
		for rid, r := range added {
			known[rid] = r
		}
		if c := cc.committed[id]; c != nil {
			for rid, r := range known {
				if !r.inWindow(c.LastSeq) {
					delete(known, rid)
				}
			}
		}
		if cc.committed[id] == nil {
			// Evicted meanwhile, or never cached: nothing keeps the two
			// in step, so keep neither.
			delete(cc.committedReqs, id)
		}
	}
	for id := range cc.deleted {
		delete(cc.committed, id)
		delete(cc.committedReqs, id)
	}
	clear(cc.pending)
	clear(cc.pendingReqs)
	clear(cc.deleted)
}

// rollback forgets the transaction's changes.
func (cc *chatCache) rollback() {
	clear(cc.pending)
	clear(cc.pendingReqs)
	clear(cc.deleted)
}

// forget records that the current transaction removed chat id.
func (cc *chatCache) forget(id string) {
	delete(cc.pending, id)
	delete(cc.pendingReqs, id)
	cc.deleted[id] = true
}

// cloneChat copies c deeply enough that changing the copy (its participants
// in place, most of all) leaves c as it was.
func cloneChat(c *model.Chat) model.Chat {
	cp := *c
	cp.Participants = slices.Clone(c.Participants)
	cp.Skills = slices.Clone(c.Skills)
	cp.UserData = slices.Clone(c.UserData)
	return cp
}

// recordChanged reports whether the stored record of a chat must be
// rewritten: anything but its position (LastSeq, LastActivity), which reads
// derive from the events bucket.
func recordChanged(before, after *model.Chat) bool {
	a, b := *before, *after
	a.LastSeq, a.LastActivity = 0, 0
	b.LastSeq, b.LastActivity = 0, 0
	return !reflect.DeepEqual(a, b)
}

// chatPosition fills in a chat's position from the log: the last seq is its
// newest event's, the last activity that event's time. Appends do not
// rewrite the chat record just to move these.
func chatPosition(tx *bolt.Tx, c *model.Chat) {
	seq, v := lastEvent(tx.Bucket(bucketLog), c.ID)
	c.LastSeq = seq
	if v != nil {
		var ev struct {
			Time int64 `json:"time"`
		}
		if json.Unmarshal(v, &ev) == nil && ev.Time > c.LastActivity {
			c.LastActivity = ev.Time
		}
	}
}
