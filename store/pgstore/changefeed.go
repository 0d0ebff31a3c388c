package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
)

// feedPoll is how often ChangeFeedSignal is poked while the feed is on,
// rows or not: another gateway's writes add rows this one is not told of.
const feedPoll = time.Second

// SetChangeFeed turns the change feed on or off. While it is on, every write
// that appends events also writes a change row, in the same transaction, for
// a consumer that follows the feed with ConsumeChanges: a commit's
// acknowledgement means its deliveries will be made. Writes committed while
// it is off leave no row. It is this Store's setting: each gateway turns it
// on for its own writes.
func (s *Store) SetChangeFeed(on bool) { s.feedOn.Store(on) }

// ChangeFeedSignal is poked (without blocking a writer) after every commit
// of this Store that wrote change rows, and every second while the feed is
// on, for the rows other gateways write. A consumer that misses a poke
// finds the rows on its next read.
func (s *Store) ChangeFeedSignal() <-chan struct{} { return s.feed }

func (s *Store) poke() {
	select {
	case s.feed <- struct{}{}:
	default:
	}
}

// pokeFeed pokes the signal every feedPoll while the feed is on, until
// Close.
func (s *Store) pokeFeed() {
	defer close(s.poked)
	t := time.NewTicker(feedPoll)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			if s.feedOn.Load() {
				s.poke()
			}
		}
	}
}

// changeRow is the change row of ch's appended evs: the chat's
// identifying and routing fields as committed, and the seqs appended.
func changeRow(ch *model.Chat, evs []model.Event) ([]byte, error) {
	c := model.Change{
		Chat: model.Chat{ID: ch.ID, Deployment: ch.Deployment, Mode: ch.Mode, State: ch.State, Queue: ch.Queue,
			Thread: ch.Thread, LastActivity: ch.LastActivity, CreatedAt: ch.CreatedAt},
		First: evs[0].Seq, Last: evs[len(evs)-1].Seq,
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode change of %s: %w", ch.ID, err)
	}
	return b, nil
}

// insertChangesSQL writes change rows, their ids in the order given.
const insertChangesSQL = `INSERT INTO change_feed (chat_id, change)
	SELECT u.chat_id, u.change FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS u(chat_id, change, n)
	ORDER BY u.n`

// Changes returns up to limit rows of the change feed, oldest first, each
// with its events (read in the same snapshot). A change whose chat was
// deleted since has no events: there is nothing left to announce.
//
// Row ids follow the order the rows were written, which is not quite the
// order their transactions committed: a row may become visible after one
// with a higher id. ConsumeChanges therefore deletes only the rows Changes
// returned, so such a row is read by the next Changes instead of being lost.
func (s *Store) Changes(ctx context.Context, limit int) (out []model.Change, events [][]model.Event, err error) {
	if limit <= 0 {
		return nil, nil, nil
	}
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		out, events = nil, nil
		rows, err := tx.Query(ctx, `SELECT id, change FROM change_feed ORDER BY id LIMIT $1`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id   int64
				body []byte
			)
			if err := rows.Scan(&id, &body); err != nil {
				return err
			}
			var c model.Change
			if err := json.Unmarshal(body, &c); err != nil {
				return fmt.Errorf("decode change %d: %w", id, err)
			}
			c.ID = uint64(id)
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		events = make([][]model.Event, len(out))
		var (
			chats        []string
			firsts, last []int64
		)
		for _, c := range out {
			chats, firsts, last = append(chats, c.Chat.ID), append(firsts, int64(c.First)), append(last, int64(c.Last))
		}
		if len(out) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT u.n, e.body
			FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS u(chat_id, first, last, n)
			JOIN chats c ON c.id = u.chat_id
			JOIN events e ON e.chat_id = u.chat_id AND e.seq BETWEEN u.first AND u.last
			ORDER BY u.n, e.seq`, chats, firsts, last)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				n    int64
				body []byte
			)
			if err := rows.Scan(&n, &body); err != nil {
				return err
			}
			var ev model.Event
			if err := json.Unmarshal(body, &ev); err != nil {
				return fmt.Errorf("decode event of %s: %w", out[n-1].Chat.ID, err)
			}
			events[n-1] = append(events[n-1], ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pgstore: read the change feed: %w", err)
	}
	read := make([]uint64, len(out))
	for i, c := range out {
		read[i] = c.ID
	}
	s.feedMu.Lock()
	s.feedRead = read
	s.feedMu.Unlock()
	return out, events, nil
}

// ConsumeChanges deletes the change rows through id that the last Changes
// returned and writes entries to the outbox, in one transaction: a crash
// before it leaves the rows to be read again, so every change is turned into
// deliveries at least once. Without a Changes before it on this Store, it
// deletes every row through id.
//
// Each entry is recorded as announcing the chat of a consumed row whose id,
// and a colon, its EventID starts with, so that an erasure of the chat
// deletes it; an entry of a chat deleted since Changes read it is not
// written (the chat's rows are held until the commit, so an erasure
// cannot slip in between).
func (s *Store) ConsumeChanges(ctx context.Context, through uint64, entries []model.OutboxEntry) error {
	s.feedMu.Lock()
	known := s.feedRead != nil
	var read []int64
	for _, id := range s.feedRead {
		if id <= through {
			read = append(read, int64(id))
		}
	}
	s.feedMu.Unlock()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var rows pgx.Rows
		var err error
		if known {
			rows, err = tx.Query(ctx, `DELETE FROM change_feed WHERE id = ANY($1) RETURNING chat_id`, read)
		} else {
			rows, err = tx.Query(ctx, `DELETE FROM change_feed WHERE id <= $1 RETURNING chat_id`, clampID(through))
		}
		if err != nil {
			return err
		}
		chats, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		// The chats still there, held until the commit: an erasure either
		// waits for these deliveries and deletes them, or went first and
		// they are not written.
		rows, err = tx.Query(ctx, `SELECT id FROM chats WHERE id = ANY($1) ORDER BY id FOR SHARE`, chats)
		if err != nil {
			return err
		}
		there, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		kept := make([]model.OutboxEntry, 0, len(entries))
		owners := make([]owner, 0, len(entries))
		for _, e := range entries {
			best := ""
			for _, c := range chats {
				if len(c) > len(best) && strings.HasPrefix(e.EventID, c+":") {
					best = c
				}
			}
			if best == "" {
				kept, owners = append(kept, e), append(owners, owner{})
				continue
			}
			if !slices.Contains(there, best) {
				continue // the chat was deleted since its row was read
			}
			kept, owners = append(kept, e), append(owners, owner{chatID: &best})
		}
		return putOutbox(ctx, tx, kept, func(i int) owner { return owners[i] })
	})
	if err != nil {
		return fmt.Errorf("pgstore: consume the change feed: %w", err)
	}
	s.feedMu.Lock()
	s.feedRead = slicesDeleteThrough(s.feedRead, through)
	s.feedMu.Unlock()
	return nil
}

// slicesDeleteThrough drops the ids through id.
func slicesDeleteThrough(ids []uint64, through uint64) []uint64 {
	rest := []uint64{}
	for _, id := range ids {
		if id > through {
			rest = append(rest, id)
		}
	}
	return rest
}

// ChangeFeedDepth counts the change rows not consumed yet.
func (s *Store) ChangeFeedDepth(ctx context.Context) (n int, err error) {
	if err := s.open(); err != nil {
		return 0, err
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM change_feed`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgstore: change feed depth: %w", s.closedOr(err))
	}
	return n, nil
}
