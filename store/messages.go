package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketLeft         = []byte("left_messages")
	bucketLeftOpen     = []byte("left_open")
	bucketLeftAnswered = []byte("left_answered")
	bucketIdentityLeft = []byte("identity_left")
)

// leftKey orders an index of left messages by time: uint64 unix ms ‖ id.
func leftKey(at int64, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(max(at, 0))), id...)
}

// LeaveMessage stores a new left message with the webhook deliveries that
// announce it, in one transaction; idn, when set, is written with it (the
// anonymous identity made for the visitor). Without idn, the message's
// identity must exist: one erased since the caller read it is ErrNotFound,
// so that an erasure leaves no message behind.
func (s *Store) LeaveMessage(ctx context.Context, m model.LeftMessage, idn *model.Identity, outbox []model.OutboxEntry) error {
	if m.ID == "" || m.IdentityID == "" {
		return fmt.Errorf("store: left message without id or identity")
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		o.outbox = outboxDelta{}
		if tx.Bucket(bucketLeft).Get([]byte(m.ID)) != nil {
			return skip{fmt.Errorf("%w: left message %s", model.ErrExists, m.ID)}
		}
		if idn != nil {
			if err := putJSON(tx.Bucket(bucketIdentities), idn.ID, idn); err != nil {
				return err
			}
		} else if tx.Bucket(bucketIdentities).Get([]byte(m.IdentityID)) == nil {
			return skip{fmt.Errorf("%w: identity %s", model.ErrNotFound, m.IdentityID)}
		}
		if err := putJSON(tx.Bucket(bucketLeft), m.ID, m); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLeftOpen).Put(leftKey(m.CreatedAt, m.ID), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIdentityLeft).Put([]byte(m.IdentityID+"\x00"+m.ID), nil); err != nil {
			return err
		}
		return s.putOutbox(tx, o, outbox)
	}
	return s.submit(ctx, o)
}

// AnswerMessage records an agent's answer to left message id with the
// webhook deliveries outbox makes of the answered message, in one
// transaction. It returns ErrNotFound for an unknown id and ErrAnswered for
// a message already answered.
func (s *Store) AnswerMessage(ctx context.Context, id string, a model.Answer, outbox func(model.LeftMessage) []model.OutboxEntry) (model.LeftMessage, error) {
	var m model.LeftMessage
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		o.outbox = outboxDelta{}
		var err error
		if m, err = getLeft(tx, id); err != nil {
			return skip{err}
		}
		if m.Answer != nil {
			return skip{model.ErrAnswered}
		}
		m.Answer = &a
		if err := putJSON(tx.Bucket(bucketLeft), m.ID, m); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLeftOpen).Delete(leftKey(m.CreatedAt, m.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLeftAnswered).Put(leftKey(a.AnsweredAt, m.ID), nil); err != nil {
			return err
		}
		if outbox != nil {
			return s.putOutbox(tx, o, outbox(m))
		}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return model.LeftMessage{}, err
	}
	return m, nil
}

func getLeft(tx *bolt.Tx, id string) (model.LeftMessage, error) {
	var m model.LeftMessage
	v := tx.Bucket(bucketLeft).Get([]byte(id))
	if v == nil {
		return m, fmt.Errorf("%w: left message %s", model.ErrNotFound, id)
	}
	if err := json.Unmarshal(v, &m); err != nil {
		return m, fmt.Errorf("store: decode left message %s: %w", id, err)
	}
	return m, nil
}

// LeftMessage reads one left message; ErrNotFound for an unknown id.
func (s *Store) LeftMessage(ctx context.Context, id string) (m model.LeftMessage, err error) {
	if err := ctx.Err(); err != nil {
		return m, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		m, err = getLeft(tx, id)
		return err
	})
	return m, err
}

// LeftMessages lists up to limit left messages: the open ones oldest first
// (answered false), or the answered ones most recently answered first.
func (s *Store) LeftMessages(ctx context.Context, answered bool, limit int) ([]model.LeftMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []model.LeftMessage{}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLeftOpen).Cursor()
		k, _ := c.First()
		next := c.Next
		if answered {
			c = tx.Bucket(bucketLeftAnswered).Cursor()
			k, _ = c.Last()
			next = c.Prev
		}
		for ; k != nil && len(out) < limit; k, _ = next() {
			m, err := getLeft(tx, string(k[8:]))
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: left messages: %w", err)
	}
	return out, nil
}

// LeftMessagesOf lists up to limit of the messages an identity left, oldest
// first.
func (s *Store) LeftMessagesOf(ctx context.Context, identityID string, limit int) ([]model.LeftMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []model.LeftMessage{}
	prefix := []byte(identityID + "\x00")
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIdentityLeft).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			m, err := getLeft(tx, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: left messages of %s: %w", identityID, err)
	}
	// Keyed by id, not time: order them, and keep the newest limit.
	slices.SortFunc(out, func(a, b model.LeftMessage) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// putOutbox writes entries to the outbox in tx, counting them in o.
func (s *Store) putOutbox(tx *bolt.Tx, o *op, entries []model.OutboxEntry) error {
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
	o.outbox.pending += len(entries)
	return nil
}

// identityLeftIDs lists the ids of the messages identity_left holds for an
// identity.
func identityLeftIDs(tx *bolt.Tx, identityID string) []string {
	prefix := []byte(identityID + "\x00")
	var ids []string
	c := tx.Bucket(bucketIdentityLeft).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// removeLeft deletes left message m in tx: its record and its entries in
// left_open or left_answered and identity_left.
func removeLeft(tx *bolt.Tx, m *model.LeftMessage, r *Removed) error {
	if err := tx.Bucket(bucketLeft).Delete([]byte(m.ID)); err != nil {
		return err
	}
	idx, at := bucketLeftOpen, m.CreatedAt
	if m.Answer != nil {
		idx, at = bucketLeftAnswered, m.Answer.AnsweredAt
	}
	if err := tx.Bucket(idx).Delete(leftKey(at, m.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketIdentityLeft).Delete([]byte(m.IdentityID + "\x00" + m.ID)); err != nil {
		return err
	}
	r.LeftMessages++
	return nil
}

// leftActivity is when a left message was last written to (unix ms): its
// answer, or its creation while unanswered. Retention counts from it.
func leftActivity(m *model.LeftMessage) int64 {
	if m.Answer != nil {
		return max(m.Answer.AnsweredAt, m.CreatedAt)
	}
	return m.CreatedAt
}

// expiredLeft reports whether left message m is past its deployment's
// chats retention at now (unix ms).
func expiredLeft(m *model.LeftMessage, ret model.Retention, now int64) bool {
	return ret.Chats > 0 && leftActivity(m) < now-ret.Chats.Milliseconds()
}
