package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
)

// LeaveMessage stores a new left message with the webhook deliveries that
// announce it, in one transaction; idn, when set, is written with it (the
// anonymous identity made for the visitor). Without idn, the message's
// identity must exist: one erased since the caller read it is ErrNotFound,
// so that an erasure leaves no message behind (the identity's row is held
// until the commit, and EraseIdentity deletes that row first). A message id
// already taken is ErrExists.
func (s *Store) LeaveMessage(ctx context.Context, m model.LeftMessage, idn *model.Identity, outbox []model.OutboxEntry) error {
	if m.ID == "" || m.IdentityID == "" {
		return fmt.Errorf("pgstore: left message without id or identity")
	}
	record, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("pgstore: encode left message %s: %w", m.ID, err)
	}
	var idnRecord []byte
	if idn != nil {
		if idnRecord, err = json.Marshal(idn); err != nil {
			return fmt.Errorf("pgstore: encode identity %s: %w", idn.ID, err)
		}
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if idn != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO identities (id, record) VALUES ($1, $2)
				ON CONFLICT (id) DO UPDATE SET record = excluded.record`, idn.ID, idnRecord); err != nil {
				return fmt.Errorf("write identity %s: %w", idn.ID, err)
			}
		}
		// A message id already taken is told first, as the bbolt store
		// does; the identity is checked after, still before the commit.
		tag, err := tx.Exec(ctx, `INSERT INTO left_messages (id, deployment, identity_id, created_at, answered_at, record)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
			m.ID, m.Deployment, m.IdentityID, m.CreatedAt, answeredAt(&m), record)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: left message %s", model.ErrExists, m.ID)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM identities WHERE id = $1 FOR SHARE)`, m.IdentityID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("%w: identity %s", model.ErrNotFound, m.IdentityID)
		}
		return putOutbox(ctx, tx, outbox, func(int) owner { return owner{messageID: &m.ID} })
	})
	if err != nil {
		return fmt.Errorf("pgstore: leave message %s: %w", m.ID, err)
	}
	return nil
}

// answeredAt is the answered_at column of m: null while it is open.
func answeredAt(m *model.LeftMessage) *int64 {
	if m.Answer == nil {
		return nil
	}
	return &m.Answer.AnsweredAt
}

// AnswerMessage records an agent's answer to left message id with the
// webhook deliveries outbox makes of the answered message, in one
// transaction. It returns ErrNotFound for an unknown id and ErrAnswered for
// a message already answered.
func (s *Store) AnswerMessage(ctx context.Context, id string, a model.Answer, outbox func(model.LeftMessage) []model.OutboxEntry) (model.LeftMessage, error) {
	var m model.LeftMessage
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var record []byte
		err := tx.QueryRow(ctx, `SELECT record FROM left_messages WHERE id = $1 FOR UPDATE`, id).Scan(&record)
		if notFound(err) {
			return fmt.Errorf("%w: left message %s", model.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		m = model.LeftMessage{}
		if err := json.Unmarshal(record, &m); err != nil {
			return fmt.Errorf("decode left message %s: %w", id, err)
		}
		if m.Answer != nil {
			return model.ErrAnswered
		}
		m.Answer = &a
		if record, err = json.Marshal(m); err != nil {
			return fmt.Errorf("encode left message %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE left_messages SET answered_at = $2, record = $3 WHERE id = $1`,
			id, a.AnsweredAt, record); err != nil {
			return err
		}
		if outbox == nil {
			return nil
		}
		return putOutbox(ctx, tx, outbox(m), func(int) owner { return owner{messageID: &m.ID} })
	})
	if err != nil {
		return model.LeftMessage{}, fmt.Errorf("pgstore: answer left message %s: %w", id, err)
	}
	return m, nil
}

// queryLeft decodes the records sql selects.
func queryLeft(ctx context.Context, q querier, sql string, args ...any) ([]model.LeftMessage, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []model.LeftMessage{}
	for rows.Next() {
		var record []byte
		if err := rows.Scan(&record); err != nil {
			return nil, err
		}
		var m model.LeftMessage
		if err := json.Unmarshal(record, &m); err != nil {
			return nil, fmt.Errorf("decode left message: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// LeftMessage reads one left message; ErrNotFound for an unknown id.
func (s *Store) LeftMessage(ctx context.Context, id string) (model.LeftMessage, error) {
	if err := s.open(); err != nil {
		return model.LeftMessage{}, err
	}
	ms, err := queryLeft(ctx, s.pool, `SELECT record FROM left_messages WHERE id = $1`, id)
	if err != nil {
		return model.LeftMessage{}, fmt.Errorf("pgstore: left message %s: %w", id, s.closedOr(err))
	}
	if len(ms) == 0 {
		return model.LeftMessage{}, fmt.Errorf("pgstore: %w: left message %s", model.ErrNotFound, id)
	}
	return ms[0], nil
}

// LeftMessages lists up to limit left messages: the open ones oldest first
// (answered false), or the answered ones most recently answered first.
func (s *Store) LeftMessages(ctx context.Context, answered bool, limit int) ([]model.LeftMessage, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	sql := `SELECT record FROM left_messages WHERE answered_at IS NULL ORDER BY created_at, id LIMIT $1`
	if answered {
		sql = `SELECT record FROM left_messages WHERE answered_at IS NOT NULL ORDER BY answered_at DESC, id DESC LIMIT $1`
	}
	out, err := queryLeft(ctx, s.pool, sql, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("pgstore: left messages: %w", s.closedOr(err))
	}
	return out, nil
}

// LeftMessagesOf lists up to limit of the messages an identity left: the
// newest limit, oldest first.
func (s *Store) LeftMessagesOf(ctx context.Context, identityID string, limit int) ([]model.LeftMessage, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	out, err := queryLeft(ctx, s.pool, `SELECT record FROM (
			SELECT record, created_at, id FROM left_messages WHERE identity_id = $1
			ORDER BY created_at DESC, id DESC LIMIT $2) newest
		ORDER BY created_at, id`, identityID, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("pgstore: left messages of %s: %w", identityID, s.closedOr(err))
	}
	return out, nil
}
