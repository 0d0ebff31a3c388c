package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

type outboxDelta struct{ pending, dead int }

// countOutbox counts the pending and the dead entries by walking both
// buckets: once, at Open.
func countOutbox(tx *bolt.Tx) (pending, dead int) {
	return tx.Bucket(bucketOutbox).Stats().KeyN, tx.Bucket(bucketDead).Stats().KeyN
}

// countCommitted adds the outbox deltas of batch's committed ops to the
// counts. It runs on the writer goroutine, after the batch committed.
func (s *Store) countCommitted(batch []*op) {
	var d outboxDelta
	for _, o := range batch {
		if o.err == nil {
			d.pending += o.outbox.pending
			d.dead += o.outbox.dead
		}
	}
	if d.pending != 0 {
		s.pendingN.Add(int64(d.pending))
	}
	if d.dead != 0 {
		s.deadN.Add(int64(d.dead))
	}
}

func dueKey(subscription string, nextAt int64, id uint64) []byte {
	k := make([]byte, 0, 2+len(subscription)+16)
	k = binary.BigEndian.AppendUint16(k, uint16(len(subscription)))
	k = append(k, subscription...)
	k = binary.BigEndian.AppendUint64(k, uint64(max(nextAt, 0)))
	return binary.BigEndian.AppendUint64(k, id)
}

// dueSubscription returns the subscription of due key k.
func dueSubscription(k []byte) (string, error) {
	if len(k) >= 2 {
		if n := int(binary.BigEndian.Uint16(k)); len(k) == 2+n+16 {
			return string(k[2 : 2+n]), nil
		}
	}
	return "", fmt.Errorf("store: malformed outbox_due key %x", k)
}

// dueTime returns the due time and the id of due key k.
func dueTime(k []byte) (nextAt int64, id uint64) {
	n := len(k)
	return int64(binary.BigEndian.Uint64(k[n-16:])), binary.BigEndian.Uint64(k[n-8:])
}

// after returns the least key above every key that starts with prefix; nil
// when there is none.
func after(prefix []byte) []byte {
	k := bytes.Clone(prefix)
	for i := len(k) - 1; i >= 0; i-- {
		if k[i]++; k[i] != 0 {
			return k[:i+1]
		}
	}
	return nil
}

// putPending writes e to the outbox and its due index. An older version of e
// must have been removed from the index first.
func putPending(tx *bolt.Tx, e model.OutboxEntry) error {
	if len(e.Subscription) > math.MaxUint16 {
		return fmt.Errorf("store: outbox entry %d: subscription id of %d bytes", e.ID, len(e.Subscription))
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketOutbox).Put(u64(e.ID), data); err != nil {
		return err
	}
	return tx.Bucket(bucketOutboxDue).Put(dueKey(e.Subscription, e.NextAt, e.ID), nil)
}

// reindexOutboxDue rebuilds outbox_due from the outbox: schema 1 keyed it by
// due time alone, schema 2 by subscription first.
func reindexOutboxDue(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketOutboxDue); err != nil {
		return err
	}
	due, err := tx.CreateBucket(bucketOutboxDue)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		var e model.OutboxEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("store: decode outbox entry %d: %w", binary.BigEndian.Uint64(k), err)
		}
		return due.Put(dueKey(e.Subscription, e.NextAt, binary.BigEndian.Uint64(k)), nil)
	})
}

// getEntry reads entry id from bucket name; ok is false when it is not there.
func getEntry(tx *bolt.Tx, name []byte, id uint64) (e model.OutboxEntry, ok bool, err error) {
	v := tx.Bucket(name).Get(u64(id))
	if v == nil {
		return model.OutboxEntry{}, false, nil
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return model.OutboxEntry{}, false, fmt.Errorf("store: decode %s entry %d: %w", name, id, err)
	}
	return e, true, nil
}

// removePending deletes entry id from the outbox and its due index and
// returns it; ok is false when it was not pending.
func removePending(tx *bolt.Tx, id uint64) (e model.OutboxEntry, ok bool, err error) {
	e, ok, err = getEntry(tx, bucketOutbox, id)
	if err != nil || !ok {
		return e, ok, err
	}
	if err := tx.Bucket(bucketOutboxDue).Delete(dueKey(e.Subscription, e.NextAt, id)); err != nil {
		return e, false, err
	}
	return e, true, tx.Bucket(bucketOutbox).Delete(u64(id))
}

// PendingOutbox returns outbox entries due at now, the earliest due first:
// of each subscription, up to want(subscription) of its own earliest due
// ones. A subscription for which want is 0 is passed over without reading
// its entries, so a subscription with a long backlog costs a seek, not a
// walk. want runs inside the read transaction, once for every subscription
// with pending entries, and must not block.
//
// next is the earliest time at which an entry of a subscription it read
// (want above 0) falls due after now; zero when there is none. Due entries
// beyond want are not counted in next: they are due already.
func (s *Store) PendingOutbox(ctx context.Context, now time.Time, want func(subscription string) int) (due []model.OutboxEntry, next time.Time, err error) {
	until := now.UnixMilli()
	nextAt := int64(-1)
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutboxDue).Cursor()
		for k, _ := c.First(); k != nil; {
			sub, err := dueSubscription(k)
			if err != nil {
				return err
			}
			prefix := bytes.Clone(k[:2+len(sub)])
			if n := want(sub); n > 0 {
				for taken := 0; k != nil && bytes.HasPrefix(k, prefix) && taken < n; k, _ = c.Next() {
					at, id := dueTime(k)
					if at > until {
						break
					}
					e, ok, err := getEntry(tx, bucketOutbox, id)
					if err != nil {
						return err
					}
					if !ok {
						return fmt.Errorf("store: outbox index names missing entry %d", id)
					}
					due = append(due, e)
					taken++
				}
				// The subscription's first entry not due yet.
				if k, _ = c.Seek(dueKey(sub, until+1, 0)); k != nil && bytes.HasPrefix(k, prefix) {
					if at, _ := dueTime(k); nextAt < 0 || at < nextAt {
						nextAt = at
					}
				}
			}
			rest := after(prefix)
			if rest == nil {
				break
			}
			k, _ = c.Seek(rest)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	slices.SortFunc(due, func(a, b model.OutboxEntry) int {
		return cmp.Or(cmp.Compare(a.NextAt, b.NextAt), cmp.Compare(a.ID, b.ID))
	})
	if nextAt >= 0 {
		next = time.UnixMilli(nextAt)
	}
	return due, next, nil
}

// ListOutbox lists up to limit entries in state OutboxPending or OutboxDead
// with an id above after, in id order (the order they were written).
func (s *Store) ListOutbox(ctx context.Context, state model.OutboxState, after uint64, limit int) (list []model.OutboxEntry, err error) {
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
			var e model.OutboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode %s entry %d: %w", name, binary.BigEndian.Uint64(k), err)
			}
			list = append(list, e)
		}
		return nil
	})
	return list, err
}

func outboxBucket(state model.OutboxState) ([]byte, error) {
	switch state {
	case model.OutboxPending:
		return bucketOutbox, nil
	case model.OutboxDead:
		return bucketDead, nil
	}
	return nil, fmt.Errorf("store: outbox state %q is not %s or %s", state, model.OutboxPending, model.OutboxDead)
}

// OutboxEntryByID reads one delivery and the state it is in. An unknown id is
// ErrNotFound.
func (s *Store) OutboxEntryByID(ctx context.Context, id uint64) (e model.OutboxEntry, state model.OutboxState, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		for _, st := range []model.OutboxState{model.OutboxPending, model.OutboxDead} {
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
		return fmt.Errorf("%w: delivery %d", model.ErrNotFound, id)
	})
	return e, state, err
}

// OutboxDepth counts the pending and the dead entries, as last committed. It
// reads counters the writer keeps, without a transaction: cheap enough for
// every metrics scrape. After Close it returns ErrClosed.
func (s *Store) OutboxDepth(ctx context.Context) (pending, dead int, err error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return 0, 0, model.ErrClosed
	}
	return int(s.pendingN.Load()), int(s.deadN.Load()), nil
}

// UpdateOutbox replaces a pending entry with e, found by e.ID: the record of
// an attempt and the time of the next one. It is ErrNotFound when the entry is
// no longer pending.
func (s *Store) UpdateOutbox(ctx context.Context, e model.OutboxEntry) error {
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		_, ok, err := removePending(tx, e.ID)
		if err != nil {
			return err
		}
		if !ok {
			return skip{fmt.Errorf("%w: pending delivery %d", model.ErrNotFound, e.ID)}
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
		_, ok, err := removePending(tx, id)
		if ok {
			o.outbox.pending--
		}
		return err
	}
	return s.submit(ctx, o)
}

// MoveToDead moves a pending entry to the dead letters as e (its last attempt
// recorded), found by e.ID. It is ErrNotFound when the entry is no longer
// pending.
func (s *Store) MoveToDead(ctx context.Context, e model.OutboxEntry) error {
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
			return skip{fmt.Errorf("%w: pending delivery %d", model.ErrNotFound, e.ID)}
		}
		o.outbox = outboxDelta{pending: -1, dead: 1}
		return tx.Bucket(bucketDead).Put(u64(e.ID), data)
	}
	return s.submit(ctx, o)
}

// RetryDead makes delivery id due at now. A dead one goes back to the outbox
// with its attempts reset, keeping its id; a pending one keeps its attempts.
// It returns the entry as now pending; an unknown id is ErrNotFound.
func (s *Store) RetryDead(ctx context.Context, id uint64, now time.Time) (model.OutboxEntry, error) {
	var out model.OutboxEntry
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
				return skip{fmt.Errorf("%w: delivery %d", model.ErrNotFound, id)}
			}
			if err := tx.Bucket(bucketDead).Delete(u64(id)); err != nil {
				return err
			}
			e.Attempts, e.DeadAt = 0, 0
			o.outbox = outboxDelta{pending: 1, dead: -1}
		}
		e.NextAt = now.UnixMilli()
		out = e
		return putPending(tx, e)
	}
	if err := s.submit(ctx, o); err != nil {
		return model.OutboxEntry{}, err
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
			var e model.OutboxEntry
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
		o.outbox = outboxDelta{pending: n, dead: -n}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return 0, err
	}
	return n, nil
}

// PruneDead deletes the dead entries that went dead before deadBefore, then
// the oldest (lowest id) of the rest beyond the newest keep, and returns how
// many it deleted. A negative keep caps nothing.
//
// Which entries expired is read in a read-only transaction first: decoding
// every dead entry inside the write transaction would hold up every other
// write. The write then deletes those that are still dead and still expired.
func (s *Store) PruneDead(ctx context.Context, deadBefore time.Time, keep int) (int, error) {
	cutoff := deadBefore.UnixMilli()
	var expired []uint64
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
			at, err := deadAt(k, v)
			if err != nil {
				return err
			}
			if at < cutoff {
				expired = append(expired, binary.BigEndian.Uint64(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	var removed int // read only after a successful submit
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		removed = 0
		dead := tx.Bucket(bucketDead)
		for _, id := range expired {
			k := u64(id)
			v := dead.Get(k)
			if v == nil {
				continue // retried meanwhile
			}
			at, err := deadAt(k, v)
			if err != nil {
				return err
			}
			if at >= cutoff {
				continue // retried and dead again meanwhile
			}
			if err := dead.Delete(k); err != nil {
				return err
			}
			removed++
		}
		if keep >= 0 {
			n := 0
			c := dead.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n++
			}
			var oldest [][]byte
			for k, _ := c.First(); k != nil && len(oldest) < n-keep; k, _ = c.Next() {
				oldest = append(oldest, bytes.Clone(k))
			}
			for _, k := range oldest {
				if err := dead.Delete(k); err != nil {
					return err
				}
			}
			removed += len(oldest)
		}
		o.outbox.dead = -removed
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return 0, err
	}
	return removed, nil
}

// deadAt decodes only the time a dead entry went dead.
func deadAt(k, v []byte) (int64, error) {
	var e struct {
		DeadAt int64 `json:"deadAt"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return 0, fmt.Errorf("store: decode dead entry %d: %w", binary.BigEndian.Uint64(k), err)
	}
	return e.DeadAt, nil
}
