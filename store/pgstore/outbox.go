package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
)

// Webhook deliveries live in the outbox table, pending and dead ones alike
// (its dead column): an entry keeps its row, so its id, when it dies and is
// retried. The entry is stored as the model's JSON; its id, subscription,
// due time and death time are columns as well, kept equal to it, for the
// indexes.

// owner is what an entry announces: a chat or a left message, so that
// erasing them finds their deliveries; neither for an erasure's notices.
type owner struct{ chatID, messageID *string }

// putOutbox writes entries to the outbox in one statement, ids in their
// order. ownerOf names what entry i announces.
func putOutbox(ctx context.Context, tx pgx.Tx, entries []model.OutboxEntry, ownerOf func(i int) owner) error {
	if len(entries) == 0 {
		return nil
	}
	var (
		subs, chats, msgs []*string
		nexts, deads      []int64
		bodies            [][]byte
	)
	for i := range entries {
		e := entries[i]
		e.ID = 0 // the row's id is the entry's: the JSON's is not read
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode outbox entry %s: %w", e.EventID, err)
		}
		o := ownerOf(i)
		subs = append(subs, &entries[i].Subscription)
		chats, msgs = append(chats, o.chatID), append(msgs, o.messageID)
		nexts, deads = append(nexts, e.NextAt), append(deads, e.DeadAt)
		bodies = append(bodies, body)
	}
	_, err := tx.Exec(ctx, `INSERT INTO outbox (subscription, next_at, dead_at, chat_id, message_id, entry)
		SELECT u.subscription, u.next_at, u.dead_at, u.chat_id, u.message_id, u.entry
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])
			WITH ORDINALITY AS u(subscription, next_at, dead_at, chat_id, message_id, entry, n)
		ORDER BY u.n`, subs, nexts, deads, chats, msgs, bodies)
	if err != nil {
		return fmt.Errorf("write outbox entries: %w", err)
	}
	return nil
}

// decodeEntry decodes a stored entry and gives it its row's id.
func decodeEntry(id int64, body []byte) (model.OutboxEntry, error) {
	var e model.OutboxEntry
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("decode outbox entry %d: %w", id, err)
	}
	e.ID = uint64(id)
	return e, nil
}

// queryEntries decodes the (id, entry) rows sql selects.
func queryEntries(ctx context.Context, q querier, sql string, args ...any) ([]model.OutboxEntry, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.OutboxEntry
	for rows.Next() {
		var (
			id   int64
			body []byte
		)
		if err := rows.Scan(&id, &body); err != nil {
			return nil, err
		}
		e, err := decodeEntry(id, body)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PendingOutbox returns outbox entries due at now, the earliest due first:
// of each subscription, up to want(subscription) of its own earliest due
// ones. A subscription for which want is 0 is passed over without reading
// its entries. want runs once for every subscription with pending entries,
// between the statements of one read-only snapshot, and must not block.
//
// next is the earliest time at which an entry of a subscription it read
// (want above 0) falls due after now; zero when there is none. Due entries
// beyond want are not counted in next: they are due already.
func (s *Store) PendingOutbox(ctx context.Context, now time.Time, want func(subscription string) int) (due []model.OutboxEntry, next time.Time, err error) {
	until := now.UnixMilli()
	var nextAt *int64
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		due, nextAt = nil, nil
		// The subscriptions with pending entries, one index seek each
		// (a loose index scan): a long backlog is not walked.
		rows, err := tx.Query(ctx, `WITH RECURSIVE subs AS (
				(SELECT subscription FROM outbox WHERE NOT dead ORDER BY subscription LIMIT 1)
				UNION ALL
				SELECT (SELECT o.subscription FROM outbox o WHERE NOT o.dead AND o.subscription > subs.subscription
					ORDER BY o.subscription LIMIT 1)
				FROM subs WHERE subs.subscription IS NOT NULL)
			SELECT subscription FROM subs WHERE subscription IS NOT NULL`)
		if err != nil {
			return err
		}
		subs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		var wanted []string
		var counts []int64
		for _, sub := range subs {
			if n := want(sub); n > 0 {
				wanted, counts = append(wanted, sub), append(counts, int64(n))
			}
		}
		if len(wanted) == 0 {
			return nil
		}
		due, err = queryEntries(ctx, tx, `SELECT o.id, o.entry
			FROM unnest($1::text[], $2::bigint[]) AS w(sub, n)
			CROSS JOIN LATERAL (SELECT id, entry, next_at FROM outbox
				WHERE NOT dead AND subscription = w.sub AND next_at <= $3
				ORDER BY next_at, id LIMIT w.n) o
			ORDER BY o.next_at, o.id`, wanted, counts, until)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT min((SELECT next_at FROM outbox
				WHERE NOT dead AND subscription = w.sub AND next_at > $2
				ORDER BY next_at LIMIT 1))
			FROM unnest($1::text[]) AS w(sub)`, wanted, until).Scan(&nextAt)
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("pgstore: pending outbox: %w", err)
	}
	if nextAt != nil {
		next = time.UnixMilli(*nextAt)
	}
	return due, next, nil
}

// readTx runs fn in a read-only transaction with one snapshot for all its
// statements.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if err := s.open(); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.closedOr(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return s.closedOr(err)
	}
	return s.closedOr(tx.Commit(ctx))
}

// deadState is the dead column's value for state.
func deadState(state model.OutboxState) (bool, error) {
	switch state {
	case model.OutboxPending:
		return false, nil
	case model.OutboxDead:
		return true, nil
	}
	return false, fmt.Errorf("pgstore: outbox state %q is not %s or %s", state, model.OutboxPending, model.OutboxDead)
}

// ListOutbox lists up to limit entries in state OutboxPending or OutboxDead
// with an id above after, in id order (the order they were written).
func (s *Store) ListOutbox(ctx context.Context, state model.OutboxState, after uint64, limit int) ([]model.OutboxEntry, error) {
	dead, err := deadState(state)
	if err != nil {
		return nil, err
	}
	if after >= math.MaxInt64 || limit <= 0 {
		return nil, nil
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	// The state is in the statement's text, not a parameter, so the dead
	// letters are read from their partial index.
	sql := `SELECT id, entry FROM outbox WHERE NOT dead AND id > $1 ORDER BY id LIMIT $2`
	if dead {
		sql = `SELECT id, entry FROM outbox WHERE dead AND id > $1 ORDER BY id LIMIT $2`
	}
	list, err := queryEntries(ctx, s.pool, sql, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list %s outbox: %w", state, s.closedOr(err))
	}
	return list, nil
}

// OutboxEntryByID reads one delivery and the state it is in. An unknown id is
// ErrNotFound.
func (s *Store) OutboxEntryByID(ctx context.Context, id uint64) (model.OutboxEntry, model.OutboxState, error) {
	if err := s.open(); err != nil {
		return model.OutboxEntry{}, "", err
	}
	var (
		body []byte
		dead bool
	)
	err := s.pool.QueryRow(ctx, `SELECT entry, dead FROM outbox WHERE id = $1`, clampID(id)).Scan(&body, &dead)
	if notFound(err) {
		return model.OutboxEntry{}, "", fmt.Errorf("%w: delivery %d", model.ErrNotFound, id)
	}
	if err != nil {
		return model.OutboxEntry{}, "", fmt.Errorf("pgstore: read delivery %d: %w", id, s.closedOr(err))
	}
	e, err := decodeEntry(int64(id), body)
	if err != nil {
		return model.OutboxEntry{}, "", fmt.Errorf("pgstore: %w", err)
	}
	state := model.OutboxPending
	if dead {
		state = model.OutboxDead
	}
	return e, state, nil
}

// clampID maps an id beyond bigint to one no row has (ids are positive).
func clampID(id uint64) int64 {
	if id > math.MaxInt64 {
		return -1
	}
	return int64(id)
}

// OutboxDepth counts the pending and the dead entries, as last committed:
// a pass over each of the outbox's partial indexes. After Close it returns
// ErrClosed.
func (s *Store) OutboxDepth(ctx context.Context) (pending, dead int, err error) {
	if err := s.open(); err != nil {
		return 0, 0, err
	}
	// Two subqueries rather than one filtered count: each can read its
	// own partial index.
	err = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox WHERE NOT dead), (SELECT count(*) FROM outbox WHERE dead)`).Scan(&pending, &dead)
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: outbox depth: %w", s.closedOr(err))
	}
	return pending, dead, nil
}

// encodeEntry is e's stored JSON.
func encodeEntry(e model.OutboxEntry) ([]byte, error) {
	e.ID = 0
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode outbox entry %s: %w", e.EventID, err)
	}
	return body, nil
}

// UpdateOutbox replaces a pending entry with e, found by e.ID: the record of
// an attempt and the time of the next one. It is ErrNotFound when the entry is
// no longer pending.
func (s *Store) UpdateOutbox(ctx context.Context, e model.OutboxEntry) error {
	body, err := encodeEntry(e)
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET subscription = $2, next_at = $3, dead_at = $4, entry = $5
		WHERE id = $1 AND NOT dead`, clampID(e.ID), e.Subscription, e.NextAt, e.DeadAt, body)
	if err != nil {
		return fmt.Errorf("pgstore: update delivery %d: %w", e.ID, s.closedOr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: pending delivery %d", model.ErrNotFound, e.ID)
	}
	return nil
}

// DeleteOutbox removes a pending entry: it was delivered. Deleting an entry
// that is not pending does nothing.
func (s *Store) DeleteOutbox(ctx context.Context, id uint64) error {
	if err := s.open(); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE id = $1 AND NOT dead`, clampID(id)); err != nil {
		return fmt.Errorf("pgstore: delete delivery %d: %w", id, s.closedOr(err))
	}
	return nil
}

// MoveToDead moves a pending entry to the dead letters as e (its last attempt
// recorded), found by e.ID. It is ErrNotFound when the entry is no longer
// pending.
func (s *Store) MoveToDead(ctx context.Context, e model.OutboxEntry) error {
	body, err := encodeEntry(e)
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET dead = true, subscription = $2, next_at = $3, dead_at = $4, entry = $5
		WHERE id = $1 AND NOT dead`, clampID(e.ID), e.Subscription, e.NextAt, e.DeadAt, body)
	if err != nil {
		return fmt.Errorf("pgstore: move delivery %d to the dead letters: %w", e.ID, s.closedOr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: pending delivery %d", model.ErrNotFound, e.ID)
	}
	return nil
}

// RetryDead makes delivery id due at now. A dead one goes back to the outbox
// with its attempts reset, keeping its id; a pending one keeps its attempts.
// It returns the entry as now pending; an unknown id is ErrNotFound.
func (s *Store) RetryDead(ctx context.Context, id uint64, now time.Time) (model.OutboxEntry, error) {
	var out model.OutboxEntry
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var (
			body []byte
			dead bool
		)
		err := tx.QueryRow(ctx, `SELECT entry, dead FROM outbox WHERE id = $1 FOR UPDATE`, clampID(id)).Scan(&body, &dead)
		if notFound(err) {
			return fmt.Errorf("%w: delivery %d", model.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		e, err := decodeEntry(int64(id), body)
		if err != nil {
			return err
		}
		if dead {
			e.Attempts, e.DeadAt = 0, 0
		}
		e.NextAt = now.UnixMilli()
		if body, err = encodeEntry(e); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET dead = false, next_at = $2, dead_at = $3, entry = $4 WHERE id = $1`,
			int64(id), e.NextAt, e.DeadAt, body); err != nil {
			return err
		}
		out = e
		return nil
	})
	if err != nil {
		return model.OutboxEntry{}, fmt.Errorf("pgstore: retry delivery %d: %w", id, err)
	}
	return out, nil
}

// RetryAllDead moves up to limit dead entries back to the outbox, due at now
// with their attempts reset, and returns how many it moved: fewer than limit
// means none is left.
func (s *Store) RetryAllDead(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		list, err := queryEntries(ctx, tx, `SELECT id, entry FROM outbox WHERE dead ORDER BY id LIMIT $1 FOR UPDATE`, limit)
		if err != nil {
			return err
		}
		ids := make([]int64, len(list))
		bodies := make([][]byte, len(list))
		for i, e := range list {
			e.Attempts, e.DeadAt, e.NextAt = 0, 0, now.UnixMilli()
			if bodies[i], err = encodeEntry(e); err != nil {
				return err
			}
			ids[i] = int64(e.ID)
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET dead = false, next_at = $3, dead_at = 0, entry = u.entry
			FROM unnest($1::bigint[], $2::bytea[]) AS u(id, entry) WHERE outbox.id = u.id`, ids, bodies, now.UnixMilli())
		n = len(ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: retry dead deliveries: %w", err)
	}
	return n, nil
}

// PruneDead deletes the dead entries that went dead before deadBefore, then
// the oldest (lowest id) of the rest beyond the newest keep, and returns how
// many it deleted. A negative keep caps nothing.
func (s *Store) PruneDead(ctx context.Context, deadBefore time.Time, keep int) (int, error) {
	var removed int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		removed = 0
		tag, err := tx.Exec(ctx, `DELETE FROM outbox WHERE dead AND dead_at < $1`, deadBefore.UnixMilli())
		if err != nil {
			return err
		}
		removed = int(tag.RowsAffected())
		if keep < 0 {
			return nil
		}
		tag, err = tx.Exec(ctx, `DELETE FROM outbox WHERE dead AND id IN
			(SELECT id FROM outbox WHERE dead ORDER BY id DESC OFFSET $1 FOR UPDATE)`, keep)
		removed += int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: prune dead deliveries: %w", err)
	}
	return removed, nil
}
