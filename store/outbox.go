package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Outbox states, as ListOutbox takes them.
const (
	OutboxPending = "pending" // waiting in the outbox for its next attempt
	OutboxDead    = "dead"    // gave up after too many attempts; retried only by hand
)

// OutboxEntry is one webhook delivery: one event for one subscription. It is
// written by Options.Outbox in the transaction of the event it announces, so
// the event and its delivery commit together or not at all.
type OutboxEntry struct {
	// ID is assigned by the store when the entry is written and kept when it
	// goes dead and is retried: the delivery's id for the admin commands.
	ID           uint64          `json:"id"`
	Subscription string          `json:"subscription"` // the webhook's id
	Event        string          `json:"event"`        // "message.created"
	EventID      string          `json:"eventId"`      // stable across attempts and subscriptions
	Body         json.RawMessage `json:"body"`         // the payload, sent (and signed) as is
	CreatedAt    int64           `json:"createdAt"`    // unix ms
	Attempts     int             `json:"attempts"`     // failed attempts so far
	NextAt       int64           `json:"nextAt"`       // unix ms: due when ≤ now
	LastAttempt  int64           `json:"lastAttempt,omitempty"`
	LastStatus   int             `json:"lastStatus,omitempty"` // HTTP status of the last attempt; 0 if none came back
	LastError    string          `json:"lastError,omitempty"`
	DeadAt       int64           `json:"deadAt,omitempty"`
}

// OutboxFunc turns what one write appends to a chat into outbox entries. It
// runs inside the write transaction, possibly more than once for the same
// write: it must be pure (no I/O, no blocking) and must not change c or evs.
// The store assigns each entry's ID.
type OutboxFunc func(c *Chat, evs []Event) []OutboxEntry

// writeOutbox adds the entries the Outbox option makes of evs; tx is the
// transaction that appends them.
func (s *Store) writeOutbox(tx *bolt.Tx, ch *Chat, evs []Event) error {
	if s.opts.Outbox == nil || len(evs) == 0 {
		return nil
	}
	c := *ch // the hook sees the chat as committed but cannot change it
	entries := s.opts.Outbox(&c, evs)
	b := tx.Bucket(bucketOutbox)
	for _, e := range entries {
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.ID = id
		if err := putPending(tx, e); err != nil {
			return err
		}
	}
	return nil
}

// dueKey orders the outbox by due time: nextAt ‖ id.
func dueKey(nextAt int64, id uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(max(nextAt, 0)))
	binary.BigEndian.PutUint64(k[8:], id)
	return k
}

// putPending writes e to the outbox and its due index. An older version of e
// must have been removed from the index first.
func putPending(tx *bolt.Tx, e OutboxEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketOutbox).Put(u64(e.ID), data); err != nil {
		return err
	}
	return tx.Bucket(bucketOutboxDue).Put(dueKey(e.NextAt, e.ID), nil)
}

// getEntry reads entry id from bucket name; ok is false when it is not there.
func getEntry(tx *bolt.Tx, name []byte, id uint64) (e OutboxEntry, ok bool, err error) {
	v := tx.Bucket(name).Get(u64(id))
	if v == nil {
		return OutboxEntry{}, false, nil
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return OutboxEntry{}, false, fmt.Errorf("store: decode %s entry %d: %w", name, id, err)
	}
	return e, true, nil
}

// removePending deletes entry id from the outbox and its due index and
// returns it; ok is false when it was not pending.
func removePending(tx *bolt.Tx, id uint64) (e OutboxEntry, ok bool, err error) {
	e, ok, err = getEntry(tx, bucketOutbox, id)
	if err != nil || !ok {
		return e, ok, err
	}
	if err := tx.Bucket(bucketOutboxDue).Delete(dueKey(e.NextAt, id)); err != nil {
		return e, false, err
	}
	return e, true, tx.Bucket(bucketOutbox).Delete(u64(id))
}

// PendingOutbox returns up to limit outbox entries due at now, the earliest
// due first, and when the first entry it did not return falls due (zero when
// the outbox holds no other entry). That time is at or before now when more
// than limit entries are due.
func (s *Store) PendingOutbox(ctx context.Context, now time.Time, limit int) (due []OutboxEntry, next time.Time, err error) {
	until := now.UnixMilli()
	err = s.view(func(tx *bolt.Tx) error {
		out := tx.Bucket(bucketOutbox)
		c := tx.Bucket(bucketOutboxDue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			at := int64(binary.BigEndian.Uint64(k))
			if at > until || len(due) >= limit {
				next = time.UnixMilli(at)
				return nil
			}
			id := binary.BigEndian.Uint64(k[8:])
			v := out.Get(u64(id))
			if v == nil {
				return fmt.Errorf("store: outbox index names missing entry %d", id)
			}
			var e OutboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode outbox entry %d: %w", id, err)
			}
			due = append(due, e)
		}
		return nil
	})
	return due, next, err
}

// ListOutbox lists up to limit entries in state OutboxPending or OutboxDead
// with an id above after, in id order (the order they were written).
func (s *Store) ListOutbox(ctx context.Context, state string, after uint64, limit int) (list []OutboxEntry, err error) {
	name, err := outboxBucket(state)
	if err != nil {
		return nil, err
	}
	if after == ^uint64(0) {
		return nil, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(name).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(list) < limit; k, v = c.Next() {
			var e OutboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode %s entry %d: %w", name, binary.BigEndian.Uint64(k), err)
			}
			list = append(list, e)
		}
		return nil
	})
	return list, err
}

func outboxBucket(state string) ([]byte, error) {
	switch state {
	case OutboxPending:
		return bucketOutbox, nil
	case OutboxDead:
		return bucketDead, nil
	}
	return nil, fmt.Errorf("store: outbox state %q is not %s or %s", state, OutboxPending, OutboxDead)
}

// OutboxEntryByID reads one delivery and the state it is in. An unknown id is
// ErrNotFound.
func (s *Store) OutboxEntryByID(ctx context.Context, id uint64) (e OutboxEntry, state string, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		for _, st := range []string{OutboxPending, OutboxDead} {
			name, _ := outboxBucket(st)
			got, ok, err := getEntry(tx, name, id)
			if err != nil {
				return err
			}
			if ok {
				e, state = got, st
				return nil
			}
		}
		return fmt.Errorf("%w: delivery %d", ErrNotFound, id)
	})
	return e, state, err
}

// OutboxDepth counts the pending and the dead entries.
func (s *Store) OutboxDepth(ctx context.Context) (pending, dead int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		pending = tx.Bucket(bucketOutbox).Stats().KeyN
		dead = tx.Bucket(bucketDead).Stats().KeyN
		return nil
	})
	return pending, dead, err
}

// UpdateOutbox replaces a pending entry with e, found by e.ID: the record of
// an attempt and the time of the next one. It is ErrNotFound when the entry is
// no longer pending.
func (s *Store) UpdateOutbox(ctx context.Context, e OutboxEntry) error {
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		_, ok, err := removePending(tx, e.ID)
		if err != nil {
			return err
		}
		if !ok {
			return skip{fmt.Errorf("%w: pending delivery %d", ErrNotFound, e.ID)}
		}
		return putPending(tx, e)
	}
	return s.submit(ctx, o)
}

// DeleteOutbox removes a pending entry: it was delivered. Deleting an entry
// that is not pending does nothing.
func (s *Store) DeleteOutbox(ctx context.Context, id uint64) error {
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		_, _, err := removePending(tx, id)
		return err
	}
	return s.submit(ctx, o)
}

// MoveToDead moves a pending entry to the dead letters as e (its last attempt
// recorded), found by e.ID. It is ErrNotFound when the entry is no longer
// pending.
func (s *Store) MoveToDead(ctx context.Context, e OutboxEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		_, ok, err := removePending(tx, e.ID)
		if err != nil {
			return err
		}
		if !ok {
			return skip{fmt.Errorf("%w: pending delivery %d", ErrNotFound, e.ID)}
		}
		return tx.Bucket(bucketDead).Put(u64(e.ID), data)
	}
	return s.submit(ctx, o)
}

// RetryDead makes delivery id due at now. A dead one goes back to the outbox
// with its attempts reset, keeping its id; a pending one keeps its attempts.
// It returns the entry as now pending; an unknown id is ErrNotFound.
func (s *Store) RetryDead(ctx context.Context, id uint64, now time.Time) (OutboxEntry, error) {
	var out OutboxEntry
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		e, ok, err := removePending(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			if e, ok, err = getEntry(tx, bucketDead, id); err != nil {
				return skip{err}
			}
			if !ok {
				return skip{fmt.Errorf("%w: delivery %d", ErrNotFound, id)}
			}
			if err := tx.Bucket(bucketDead).Delete(u64(id)); err != nil {
				return err
			}
			e.Attempts, e.DeadAt = 0, 0
		}
		e.NextAt = now.UnixMilli()
		out = e
		return putPending(tx, e)
	}
	if err := s.submit(ctx, o); err != nil {
		return OutboxEntry{}, err
	}
	return out, nil
}

// RetryAllDead moves up to limit dead entries back to the outbox, due at now
// with their attempts reset, and returns how many it moved: fewer than limit
// means none is left.
func (s *Store) RetryAllDead(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		n = 0
		dead := tx.Bucket(bucketDead)
		var ids [][]byte
		c := dead.Cursor()
		for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
			ids = append(ids, bytes.Clone(k))
		}
		for _, k := range ids {
			var e OutboxEntry
			if err := json.Unmarshal(dead.Get(k), &e); err != nil {
				return fmt.Errorf("store: decode dead entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if err := dead.Delete(k); err != nil {
				return err
			}
			e.Attempts, e.DeadAt, e.NextAt = 0, 0, now.UnixMilli()
			if err := putPending(tx, e); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return 0, err
	}
	return n, nil
}
