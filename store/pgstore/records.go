package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cxgate/cxgate/model"
)

// Stats counts the writer's work since Open.
type Stats struct {
	Commits uint64        // batches committed
	Writes  uint64        // writes acknowledged (Mutates, files)
	Busy    time.Duration // time spent inside the batches' transactions
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats
}

// Ping proves the database answers and takes writes, for readiness
// checks: an update that matches no row is still refused by a server that
// is read-only (a standby, a read-only transaction default), and writes
// nothing. A closed store fails.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.quit:
		return errClosed
	default:
	}
	if _, err := s.pool.Exec(ctx, `UPDATE settings SET value = value WHERE false`); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}

// sessionKeyName is the settings row of the session key.
const sessionKeyName = "session_key"

// SessionKey is a random secret made by the first Open of the database,
// kept in it: it signs session data, so sessions survive restarts and hold
// on every gateway sharing the database, but not on a new database.
func (s *Store) SessionKey() []byte { return bytes.Clone(s.sessionKey) }

// loadSessionKey reads the session key, making it first if the database
// has none: of Opens racing on a new database, the first insert wins and
// every one reads it.
func loadSessionKey(ctx context.Context, pool *pgxpool.Pool) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		sessionKeyName, key); err != nil {
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, sessionKeyName).Scan(&key); err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("the stored session key has %d bytes, want 32", len(key))
	}
	return key, nil
}

// Identity reads one identity, or ErrNotFound.
func (s *Store) Identity(ctx context.Context, id string) (model.Identity, error) {
	var record []byte
	err := s.pool.QueryRow(ctx, `SELECT record FROM identities WHERE id = $1`, id).Scan(&record)
	if errors.Is(err, pgx.ErrNoRows) {
		return model.Identity{}, fmt.Errorf("pgstore: %w: identity %s", model.ErrNotFound, id)
	}
	if err != nil {
		return model.Identity{}, fmt.Errorf("pgstore: read identity %s: %w", id, err)
	}
	var idn model.Identity
	if err := json.Unmarshal(record, &idn); err != nil {
		return model.Identity{}, fmt.Errorf("pgstore: decode identity %s: %w", id, err)
	}
	return idn, nil
}

// PutIdentity creates or replaces an identity.
func (s *Store) PutIdentity(ctx context.Context, idn model.Identity) error {
	if idn.ID == "" {
		return errors.New("pgstore: identity without id")
	}
	if err := putIdentity(ctx, s.pool, idn); err != nil {
		return fmt.Errorf("pgstore: put identity %s: %w", idn.ID, err)
	}
	return nil
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func putIdentity(ctx context.Context, q execer, idn model.Identity) error {
	record, err := json.Marshal(idn)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO identities (id, record) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record`, idn.ID, record)
	return err
}

// ChatsOfIdentity reads every chat of an identity (the chats CreateChat
// wrote with its IdentityID), oldest first.
func (s *Store) ChatsOfIdentity(ctx context.Context, identityID string) ([]model.Chat, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, record, last_seq FROM chats WHERE identity_id = $1 ORDER BY id COLLATE "C"`, identityID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: chats of identity %s: %w", identityID, err)
	}
	out, err := collectChats(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: chats of identity %s: %w", identityID, err)
	}
	slices.SortStableFunc(out, func(a, b model.Chat) int { return cmp.Compare(a.CreatedAt, b.CreatedAt) })
	return out, nil
}

// collectChats decodes rows of id, record, last_seq and closes them.
func collectChats(rows pgx.Rows) ([]model.Chat, error) {
	defer rows.Close()
	var out []model.Chat
	for rows.Next() {
		var (
			id     string
			record []byte
			last   int64
		)
		if err := rows.Scan(&id, &record, &last); err != nil {
			return nil, err
		}
		c, err := decodeChat(id, record, last)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// LookupToken returns what a token hash stands for, or ErrNotFound.
func (s *Store) LookupToken(ctx context.Context, hash []byte) (model.Token, error) {
	var record []byte
	err := s.pool.QueryRow(ctx, `SELECT record FROM tokens WHERE hash = $1`, hash).Scan(&record)
	if errors.Is(err, pgx.ErrNoRows) {
		return model.Token{}, fmt.Errorf("pgstore: %w: token", model.ErrNotFound)
	}
	if err != nil {
		return model.Token{}, fmt.Errorf("pgstore: read token: %w", err)
	}
	var t model.Token
	if err := json.Unmarshal(record, &t); err != nil {
		return model.Token{}, fmt.Errorf("pgstore: decode token: %w", err)
	}
	return t, nil
}

// IssueToken stores a token hash standing for t, replacing what the hash
// stood for; the token itself is never stored. It is how a visitor gets a
// token for another of its chats or on another device. An unknown chat is
// ErrNotFound.
func (s *Store) IssueToken(ctx context.Context, hash []byte, t model.Token) error {
	if len(hash) == 0 || t.ChatID == "" {
		return errors.New("pgstore: token without hash or chat")
	}
	err := putToken(ctx, s.pool, hash, t)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return fmt.Errorf("pgstore: issue token: %w: chat %s", model.ErrNotFound, t.ChatID)
	}
	if err != nil {
		return fmt.Errorf("pgstore: issue token for chat %s: %w", t.ChatID, err)
	}
	return nil
}

func putToken(ctx context.Context, q execer, hash []byte, t model.Token) error {
	record, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO tokens (hash, chat_id, record) VALUES ($1, $2, $3)
		ON CONFLICT (hash) DO UPDATE SET chat_id = excluded.chat_id, record = excluded.record`, hash, t.ChatID, record)
	return err
}

// AgentStatuses returns the stored status of every agent that has one.
func (s *Store) AgentStatuses(ctx context.Context) (map[string]model.AgentStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT agent_id, status FROM agent_statuses`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read agent statuses: %w", err)
	}
	defer rows.Close()
	m := map[string]model.AgentStatus{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, fmt.Errorf("pgstore: read agent statuses: %w", err)
		}
		m[id] = model.AgentStatus(status)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: read agent statuses: %w", err)
	}
	return m, nil
}

// SetAgentStatus stores an agent's status.
func (s *Store) SetAgentStatus(ctx context.Context, agentID string, status model.AgentStatus) error {
	if agentID == "" {
		return errors.New("pgstore: agent status without an agent id")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO agent_statuses (agent_id, status) VALUES ($1, $2)
		ON CONFLICT (agent_id) DO UPDATE SET status = excluded.status`, agentID, string(status))
	if err != nil {
		return fmt.Errorf("pgstore: set agent %s status: %w", agentID, err)
	}
	return nil
}

// openPage is how many open chats OpenChats reads per query.
const openPage = 500

// OpenChats calls fn for every chat that has not ended. The chats are
// read a page at a time and fn runs between the queries: it holds no
// connection and may use the store.
func (s *Store) OpenChats(ctx context.Context, fn func(model.Chat) error) error {
	after := ""
	for {
		rows, err := s.pool.Query(ctx, `SELECT id, record, last_seq FROM chats WHERE open AND id > $1 ORDER BY id LIMIT $2`, after, openPage)
		if err != nil {
			return fmt.Errorf("pgstore: list open chats: %w", err)
		}
		page, err := collectChats(rows)
		if err != nil {
			return fmt.Errorf("pgstore: list open chats: %w", err)
		}
		for _, c := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(page) < openPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// PastChats reads up to limit ended chats agentID took part in, most
// recently ended first (then by chat id, descending), after cursor. next is
// the cursor of the following page, zero when there is none. A chat is
// listed when it ends, for the participants it ended with.
func (s *Store) PastChats(ctx context.Context, agentID string, after model.PastCursor, limit int) ([]model.Chat, model.PastCursor, error) {
	if limit == 0 {
		return nil, model.PastCursor{}, nil
	}
	var bound *int64 // one more than asked: whether there is a next page
	if limit > 0 {
		n := int64(limit) + 1
		bound = &n
	}
	var (
		rows pgx.Rows
		err  error
	)
	const cols = `SELECT c.id, c.record, c.last_seq, a.ended_at FROM agent_chats a JOIN chats c ON c.id = a.chat_id`
	if after.ChatID == "" {
		rows, err = s.pool.Query(ctx, cols+` WHERE a.agent_id = $1
			ORDER BY a.ended_at DESC, a.chat_id DESC LIMIT $2`, agentID, bound)
	} else {
		rows, err = s.pool.Query(ctx, cols+` WHERE a.agent_id = $1 AND (a.ended_at, a.chat_id) < ($2, $3)
			ORDER BY a.ended_at DESC, a.chat_id DESC LIMIT $4`, agentID, max(after.EndedAt, 0), after.ChatID, bound)
	}
	if err != nil {
		return nil, model.PastCursor{}, fmt.Errorf("pgstore: past chats of %s: %w", agentID, err)
	}
	defer rows.Close()
	var (
		out  []model.Chat
		ends []int64
	)
	for rows.Next() {
		var (
			id          string
			record      []byte
			last, ended int64
		)
		if err := rows.Scan(&id, &record, &last, &ended); err != nil {
			return nil, model.PastCursor{}, fmt.Errorf("pgstore: past chats of %s: %w", agentID, err)
		}
		c, err := decodeChat(id, record, last)
		if err != nil {
			return nil, model.PastCursor{}, fmt.Errorf("pgstore: past chats of %s: %w", agentID, err)
		}
		out, ends = append(out, c), append(ends, ended)
	}
	if err := rows.Err(); err != nil {
		return nil, model.PastCursor{}, fmt.Errorf("pgstore: past chats of %s: %w", agentID, err)
	}
	if limit < 0 || len(out) <= limit {
		return out, model.PastCursor{}, nil
	}
	out = out[:limit]
	return out, model.PastCursor{EndedAt: ends[limit-1], ChatID: out[limit-1].ID}, nil
}
