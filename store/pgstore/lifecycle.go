package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
)

// Retention and erasure delete a chat by deleting its row: its events,
// tokens, files (and by trigger their chunks) and past-chat entries go with
// it by their foreign keys, its start key and index columns are the row's.
// A chat is thus whole or gone for every reader. Each step is one short
// transaction over at most scan chats read beforehand; what it deletes is
// checked again under the rows' locks, so a chat written to meanwhile
// stays.

// DefaultKeepTokens is how many visitor tokens a chat keeps when the
// policy says 0, as the bbolt store.
const DefaultKeepTokens = 16

// expiredLeft reports whether left message m is past its deployment's
// chats retention at now (unix ms), counted from its last write: its
// answer, or its creation while unanswered.
func expiredLeft(m *model.LeftMessage, ret model.Retention, now int64) bool {
	at := m.CreatedAt
	if m.Answer != nil {
		at = max(m.Answer.AnsweredAt, m.CreatedAt)
	}
	return ret.Chats > 0 && at < now-ret.Chats.Milliseconds()
}

// chatTokens reads the tokens of chats, each chat's oldest first (by
// creation, then hash, as the bbolt store orders them).
func chatTokens(ctx context.Context, q querier, chatIDs []string) (map[string][][]byte, map[string][]int64, error) {
	rows, err := q.Query(ctx, `SELECT chat_id, hash, record FROM tokens WHERE chat_id = ANY($1)`, chatIDs)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	type tok struct {
		hash []byte
		at   int64
	}
	byChat := map[string][]tok{}
	for rows.Next() {
		var (
			chatID       string
			hash, record []byte
		)
		if err := rows.Scan(&chatID, &hash, &record); err != nil {
			return nil, nil, err
		}
		var t model.Token
		if err := json.Unmarshal(record, &t); err != nil {
			return nil, nil, fmt.Errorf("decode token of chat %s: %w", chatID, err)
		}
		byChat[chatID] = append(byChat[chatID], tok{hash, t.CreatedAt})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	hashes, times := map[string][][]byte{}, map[string][]int64{}
	for id, ts := range byChat {
		slices.SortFunc(ts, func(a, b tok) int {
			return cmp.Or(cmp.Compare(max(a.at, 0), max(b.at, 0)), bytes.Compare(a.hash, b.hash))
		})
		for _, t := range ts {
			hashes[id], times[id] = append(hashes[id], t.hash), append(times[id], t.at)
		}
	}
	return hashes, times, nil
}

// staleTokens returns the hashes of chat c's tokens (oldest first) that
// expired (the chat ended more than Restore ago) or are superseded (beyond
// the newest keep).
func staleTokens(c *model.Chat, hashes [][]byte, ret model.Retention, now int64, keep int) [][]byte {
	if c.State == model.StateEnded && c.EndedAt+ret.Restore.Milliseconds() < now {
		return hashes
	}
	if len(hashes) > keep {
		return hashes[:len(hashes)-keep]
	}
	return nil
}

// SweepChats is one step of a retention sweep over the chats: it reads up
// to scan chats in id order after the chat id after, then in one
// transaction deletes those past retention (each whole: record, events,
// files, tokens, start key, and the identity when it has neither a chat nor
// a left message left) and the expired and superseded tokens of the
// others. next is the id to pass as after for the next step, "" when the
// pass reached the end.
//
// Their webhook deliveries are left to the outbox's own retries and
// PruneDead, as the bbolt store leaves them.
func (s *Store) SweepChats(ctx context.Context, p model.SweepPolicy, after string, scan int) (next string, removed model.Removed, err error) {
	now := p.Now.UnixMilli()
	keep := p.KeepTokens
	if keep <= 0 {
		keep = DefaultKeepTokens
	}
	var (
		expired []string
		tokens  [][]byte
	)
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		expired, tokens, next = nil, nil, ""
		chats, more, err := scanChats(ctx, tx, after, scan)
		if err != nil {
			return err
		}
		if more && len(chats) > 0 {
			next = chats[len(chats)-1].ID
		}
		var live []string
		for i := range chats {
			if model.ExpiredChat(&chats[i], p.Retention(chats[i].Deployment), now) {
				expired = append(expired, chats[i].ID)
			} else {
				live = append(live, chats[i].ID)
			}
		}
		if len(live) == 0 {
			return nil
		}
		hashes, _, err := chatTokens(ctx, tx, live)
		if err != nil {
			return err
		}
		for i := range chats {
			if hs := hashes[chats[i].ID]; len(hs) > 0 {
				tokens = append(tokens, staleTokens(&chats[i], hs, p.Retention(chats[i].Deployment), now, keep)...)
			}
		}
		return nil
	})
	if err != nil {
		return "", model.Removed{}, fmt.Errorf("pgstore: sweep chats: %w", err)
	}
	if len(expired) == 0 && len(tokens) == 0 {
		return next, model.Removed{}, nil
	}
	var r model.Removed
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r = model.Removed{}
		chats, err := queryChats(ctx, tx, `SELECT id, record, last_seq FROM chats WHERE id = ANY($1) ORDER BY id FOR UPDATE`, expired)
		if err != nil {
			return err
		}
		var ids, identities []string
		for i := range chats {
			c := &chats[i]
			if !model.ExpiredChat(c, p.Retention(c.Deployment), now) {
				continue // written to since the read
			}
			ids = append(ids, c.ID)
			if c.IdentityID != "" {
				identities = append(identities, c.IdentityID)
			}
		}
		if err := deleteChats(ctx, tx, ids, &r); err != nil {
			return err
		}
		if err := deleteLoneIdentities(ctx, tx, identities, &r); err != nil {
			return err
		}
		if len(tokens) > 0 {
			tag, err := tx.Exec(ctx, `DELETE FROM tokens WHERE hash = ANY($1)`, tokens)
			if err != nil {
				return err
			}
			r.Tokens += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return "", model.Removed{}, fmt.Errorf("pgstore: sweep chats: %w", err)
	}
	return next, r, nil
}

// scanChats reads up to scan chats after id after, in id order; more
// reports whether there are others beyond them.
func scanChats(ctx context.Context, tx pgx.Tx, after string, scan int) (chats []model.Chat, more bool, err error) {
	if scan <= 0 {
		return nil, false, nil
	}
	chats, err = queryChats(ctx, tx, `SELECT id, record, last_seq FROM chats WHERE id > $1 ORDER BY id LIMIT $2`, after, scan+1)
	if err != nil {
		return nil, false, err
	}
	if len(chats) > scan {
		return chats[:scan], true, nil
	}
	return chats, false, nil
}

// queryChats decodes the chats sql selects (id, record, last_seq).
func queryChats(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]model.Chat, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return collectChats(rows)
}

// deleteChats deletes chats ids (their rows locked by the caller) and,
// by their foreign keys, everything of them, counting what went.
func deleteChats(ctx context.Context, tx pgx.Tx, ids []string, r *model.Removed) error {
	if len(ids) == 0 {
		return nil
	}
	var files, tokens int
	var bytes, events int64
	err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM files WHERE chat_id = ANY($1)),
			(SELECT coalesce(sum(length(c.data)), 0) FROM files f JOIN file_chunks c ON c.file_id = f.id WHERE f.chat_id = ANY($1)),
			(SELECT count(*) FROM tokens WHERE chat_id = ANY($1)),
			(SELECT coalesce(sum(last_seq), 0) FROM chats WHERE id = ANY($1))`, ids).Scan(&files, &bytes, &tokens, &events)
	if err != nil {
		return fmt.Errorf("count what the chats hold: %w", err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM chats WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("delete chats: %w", err)
	}
	r.Chats += int(tag.RowsAffected())
	r.Events += int(events) // seqs start at 1 without gaps
	r.Files += files
	r.FileBytes += bytes
	r.Tokens += tokens
	return nil
}

// deleteLoneIdentities deletes those of identities that have neither a
// chat nor a left message left. Their rows are locked first, so the check
// that follows (a statement of its own, so a snapshot of its own) sees a
// chat or a message whose transaction held them.
func deleteLoneIdentities(ctx context.Context, tx pgx.Tx, identities []string, r *model.Removed) error {
	if len(identities) == 0 {
		return nil
	}
	slices.Sort(identities)
	identities = slices.Compact(identities)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM identities WHERE id = ANY($1) ORDER BY id FOR UPDATE`, identities); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM identities i WHERE i.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM chats WHERE identity_id = i.id)
		AND NOT EXISTS (SELECT 1 FROM left_messages WHERE identity_id = i.id)`, identities)
	if err != nil {
		return fmt.Errorf("delete identities: %w", err)
	}
	r.Identities += int(tag.RowsAffected())
	return nil
}

// ExpireFiles is one step of a retention sweep over the files: it reads up
// to scan files in id order after the file id after and, in one
// transaction, deletes the content of those older than their deployment's
// files retention, marking them expired. next is as for SweepChats.
func (s *Store) ExpireFiles(ctx context.Context, p model.SweepPolicy, after string, scan int) (next string, removed model.Removed, err error) {
	now := p.Now.UnixMilli()
	var ids []string
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		ids, next = nil, ""
		if scan <= 0 {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT f.id, f.record, coalesce(c.deployment, '') FROM files f
			LEFT JOIN chats c ON c.id = f.chat_id
			WHERE f.id > $1 ORDER BY f.id LIMIT $2`, after, scan+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			if n++; n > scan {
				return nil // next stays the last one read
			}
			var (
				id, dep string
				record  []byte
			)
			if err := rows.Scan(&id, &record, &dep); err != nil {
				return err
			}
			var f model.File
			if err := json.Unmarshal(record, &f); err != nil {
				return fmt.Errorf("decode file %s: %w", id, err)
			}
			next = id
			if f.Expired != 0 {
				continue
			}
			if ret := p.Retention(dep); ret.Files > 0 && f.Time < now-ret.Files.Milliseconds() {
				ids = append(ids, id)
			}
		}
		next = "" // the end was read
		return rows.Err()
	})
	if err != nil {
		return "", model.Removed{}, fmt.Errorf("pgstore: expire files: %w", err)
	}
	if len(ids) == 0 {
		return next, model.Removed{}, nil
	}
	var r model.Removed
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r = model.Removed{}
		rows, err := tx.Query(ctx, `SELECT id, record FROM files WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		var (
			expired []string
			records [][]byte
		)
		for rows.Next() {
			var (
				id     string
				record []byte
			)
			if err := rows.Scan(&id, &record); err != nil {
				rows.Close()
				return err
			}
			var f model.File
			if err := json.Unmarshal(record, &f); err != nil {
				rows.Close()
				return fmt.Errorf("decode file %s: %w", id, err)
			}
			if f.Expired != 0 {
				continue // expired meanwhile
			}
			f.Expired = now
			if record, err = json.Marshal(f); err != nil {
				rows.Close()
				return fmt.Errorf("encode file %s: %w", id, err)
			}
			expired, records = append(expired, id), append(records, record)
		}
		if rows.Close(); rows.Err() != nil {
			return rows.Err()
		}
		if len(expired) == 0 {
			return nil
		}
		if err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM file_chunks WHERE file_id = ANY($1) RETURNING length(data) AS n)
			SELECT coalesce(sum(n), 0) FROM gone`, expired).Scan(&r.FileBytes); err != nil {
			return fmt.Errorf("delete file content: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE files SET record = u.record FROM unnest($1::text[], $2::bytea[]) AS u(id, record)
			WHERE files.id = u.id`, expired, records); err != nil {
			return fmt.Errorf("mark files expired: %w", err)
		}
		r.Expired = len(expired)
		return nil
	})
	if err != nil {
		return "", model.Removed{}, fmt.Errorf("pgstore: expire files: %w", err)
	}
	return next, r, nil
}

// SweepLeftMessages is one step of a retention sweep over the left
// messages: it reads up to scan of them in id order after the message id
// after and, in one transaction, deletes those whose last write (their
// answer, or their creation while unanswered) is older than their
// deployment's chats retention, and their identity when it has neither a
// chat nor another message left. next is as for SweepChats. Their webhook
// deliveries are left to the outbox's own retries and PruneDead, as those
// of swept chats are.
func (s *Store) SweepLeftMessages(ctx context.Context, p model.SweepPolicy, after string, scan int) (next string, removed model.Removed, err error) {
	now := p.Now.UnixMilli()
	var ids []string
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		ids, next = nil, ""
		if scan <= 0 {
			return nil
		}
		ms, err := queryLeft(ctx, tx, `SELECT record FROM left_messages WHERE id > $1 ORDER BY id LIMIT $2`, after, scan+1)
		if err != nil {
			return err
		}
		if len(ms) > scan {
			ms = ms[:scan]
			next = ms[scan-1].ID
		}
		for i := range ms {
			if expiredLeft(&ms[i], p.Retention(ms[i].Deployment), now) {
				ids = append(ids, ms[i].ID)
			}
		}
		return nil
	})
	if err != nil {
		return "", model.Removed{}, fmt.Errorf("pgstore: sweep left messages: %w", err)
	}
	if len(ids) == 0 {
		return next, model.Removed{}, nil
	}
	var r model.Removed
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r = model.Removed{}
		ms, err := queryLeft(ctx, tx, `SELECT record FROM left_messages WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		var gone, identities []string
		for i := range ms {
			if expiredLeft(&ms[i], p.Retention(ms[i].Deployment), now) { // else answered since the read
				gone, identities = append(gone, ms[i].ID), append(identities, ms[i].IdentityID)
			}
		}
		if len(gone) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `DELETE FROM left_messages WHERE id = ANY($1)`, gone)
		if err != nil {
			return err
		}
		r.LeftMessages = int(tag.RowsAffected())
		return deleteLoneIdentities(ctx, tx, identities, &r)
	})
	if err != nil {
		return "", model.Removed{}, fmt.Errorf("pgstore: sweep left messages: %w", err)
	}
	return next, r, nil
}

// EraseIdentity deletes an identity and everything of it, in one
// transaction: every chat of it (records, events, files, tokens, start
// keys), every message it left, the identity record, the webhook
// deliveries, pending or dead, of those chats and messages. (Their change
// rows not consumed yet stay: they read no events, and ConsumeChanges
// writes no delivery for a chat that is gone.) notices, when set, makes outbox entries
// announcing the erasure (given what was deleted); they are written in the
// same transaction. An identity with neither a record, a chat nor a left
// message is ErrNotFound.
//
// The identity's row is deleted first: a LeaveMessage for it waits for the
// erasure and then finds no identity, or the erasure waits for it and then
// finds its message. It deletes open chats too: end them first, so that
// agents are told.
func (s *Store) EraseIdentity(ctx context.Context, id string, notices func(model.Erasure) []model.OutboxEntry) (model.Erasure, error) {
	if id == "" {
		return model.Erasure{}, fmt.Errorf("%w: identity \"\"", model.ErrNotFound)
	}
	var out model.Erasure
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = model.Erasure{}
		r := &out.Removed
		tag, err := tx.Exec(ctx, `DELETE FROM identities WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete identity: %w", err)
		}
		r.Identities = int(tag.RowsAffected())
		// Locked in the order the writer locks chats in, so neither waits
		// on the other in a circle; listed in byte order, as the bbolt
		// store lists them.
		rows, err := tx.Query(ctx, `SELECT id FROM chats WHERE identity_id = $1 ORDER BY id FOR UPDATE`, id)
		if err != nil {
			return err
		}
		chatIDs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		slices.Sort(chatIDs)
		if err := deleteChats(ctx, tx, chatIDs, r); err != nil {
			return err
		}
		if len(chatIDs) > 0 {
			out.ChatIDs = chatIDs
		}
		rows, err = tx.Query(ctx, `DELETE FROM left_messages WHERE identity_id = $1 RETURNING id`, id)
		if err != nil {
			return err
		}
		msgIDs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		r.LeftMessages = len(msgIDs)
		if r.Chats == 0 && r.Identities == 0 && r.LeftMessages == 0 {
			return fmt.Errorf("%w: identity %s", model.ErrNotFound, id)
		}
		if len(chatIDs) > 0 || len(msgIDs) > 0 {
			tag, err = tx.Exec(ctx, `DELETE FROM outbox WHERE chat_id = ANY($1) OR message_id = ANY($2)`, chatIDs, msgIDs)
			if err != nil {
				return fmt.Errorf("delete deliveries: %w", err)
			}
			r.Deliveries = int(tag.RowsAffected())
		}
		if notices == nil {
			return nil
		}
		return putOutbox(ctx, tx, notices(out), func(int) owner { return owner{} })
	})
	if err != nil {
		return model.Erasure{}, fmt.Errorf("pgstore: erase identity %s: %w", id, err)
	}
	return out, nil
}
