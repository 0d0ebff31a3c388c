package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// bucketChangeFeed holds the change feed: one row per write that appended
// events while the feed is on, keyed by the bucket's sequence (commit order).
var bucketChangeFeed = []byte("change_feed")

// SetChangeFeed turns the change feed on or off. While it is on, every write
// that appends events also writes a Change, in the same transaction, for a
// consumer that follows the feed with ConsumeChanges: webhooks turn their
// deliveries into outbox entries there, off the writer, and a commit's
// acknowledgement still means its deliveries will be made (the row is as
// durable as the events). Writes committed while it is off leave no row.
func (s *Store) SetChangeFeed(on bool) { s.feedOn.Store(on) }

// ChangeFeedSignal is poked (without blocking the writer) after every commit
// that wrote change rows. A consumer that misses a poke finds the rows on its
// next read.
func (s *Store) ChangeFeedSignal() <-chan struct{} { return s.feed }

// writeChange records ch's appended evs in the change feed when it is on.
func (s *Store) writeChange(tx *bolt.Tx, o *op, ch *model.Chat, evs []model.Event) error {
	if !s.feedOn.Load() || len(evs) == 0 {
		return nil
	}
	b := tx.Bucket(bucketChangeFeed)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	c := Change{
		Chat: model.Chat{ID: ch.ID, Deployment: ch.Deployment, Mode: ch.Mode, State: ch.State, Queue: ch.Queue,
			Thread: ch.Thread, LastActivity: ch.LastActivity, CreatedAt: ch.CreatedAt},
		First: evs[0].Seq, Last: evs[len(evs)-1].Seq,
	}
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	o.feed = true
	return b.Put(u64(id), v)
}

func wroteFeed(batch []*op) bool {
	for _, o := range batch {
		if o.err == nil && o.feed {
			return true
		}
	}
	return false
}

// Changes returns up to limit rows of the change feed, oldest first, each
// with its events (read in the same transaction). A change whose chat was
// deleted since has no events: there is nothing left to announce.
func (s *Store) Changes(ctx context.Context, limit int) (out []Change, events [][]model.Event, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketChangeFeed).Cursor()
		log := tx.Bucket(bucketLog)
		for k, v := cur.First(); k != nil && len(out) < limit; k, v = cur.Next() {
			var c Change
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("store: decode change %x: %w", k, err)
			}
			c.ID = binary.BigEndian.Uint64(k)
			var evs []model.Event
			if tx.Bucket(bucketChats).Get([]byte(c.Chat.ID)) != nil && c.Last >= c.First {
				var err error
				if evs, err = readAfter(log, c.Chat.ID, c.First-1, int(c.Last-c.First+1)); err != nil {
					return err
				}
			}
			out = append(out, c)
			events = append(events, evs)
		}
		return nil
	})
	return out, events, err
}

// ConsumeChanges deletes the change rows through id (those Changes returned)
// and writes entries to the outbox, in one transaction: a crash before it
// leaves the rows to be read again, so every change is turned into
// deliveries at least once.
func (s *Store) ConsumeChanges(ctx context.Context, through uint64, entries []model.OutboxEntry) error {
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		o.outbox = outboxDelta{}
		var chats []string
		cur := tx.Bucket(bucketChangeFeed).Cursor()
		for k, v := cur.First(); k != nil && binary.BigEndian.Uint64(k) <= through; k, v = cur.First() {
			var c Change
			if err := json.Unmarshal(v, &c); err == nil {
				chats = append(chats, c.Chat.ID)
			}
			if err := cur.Delete(); err != nil {
				return err
			}
		}
		return s.putOutbox(tx, o, liveEntries(tx, chats, entries))
	}
	return s.submit(ctx, o)
}

// ChangeFeedDepth counts the change rows not consumed yet.
func (s *Store) ChangeFeedDepth(ctx context.Context) (n int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketChangeFeed).Stats().KeyN
		return nil
	})
	return n, err
}

// liveEntries drops the entries of chats deleted since their change rows
// were read (an erasure between Changes and ConsumeChanges): their
// deliveries would carry what the erasure removed. An entry belongs to the
// chat whose id, with a colon, begins its event id (the longest such).
func liveEntries(tx *bolt.Tx, chats []string, entries []model.OutboxEntry) []model.OutboxEntry {
	kept := entries[:0:0]
	for _, e := range entries {
		owner := ""
		for _, c := range chats {
			if len(c) > len(owner) && strings.HasPrefix(e.EventID, c+":") {
				owner = c
			}
		}
		if owner != "" && tx.Bucket(bucketChats).Get([]byte(owner)) == nil {
			continue
		}
		kept = append(kept, e)
	}
	return kept
}
