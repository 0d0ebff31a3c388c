package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cxgate/cxgate/model"
)

// maxBatch bounds the Mutates one transaction holds.
const maxBatch = 1024

// batchRetries bounds how often a batch is run again after the database
// aborted it for a deadlock or a serialization failure.
const batchRetries = 3

// errClosed is a Mutate after Close.
var errClosed = errors.New("pgstore: closed")

// mutateOp is one Mutate handed to the writer. Its results are set by the
// writer before done is closed, and read only after.
type mutateOp struct {
	ctx           context.Context
	id, requestID string
	fn            model.MutateFunc

	file *fileOp     // AddFile, AddStagedFile: the file written with the op's events
	seat *model.Seat // MutateSeated: the agent given the chat, checked against its capacity

	chat     model.Chat
	evs      []model.Event
	replayed bool
	err      error
	done     chan struct{}
}

// fileOp is the file an AddFile or AddStagedFile writes in the transaction
// that appends its FileUploaded event.
type fileOp struct {
	f      model.File
	staged bool     // the content is staged under f.ID: adopt it
	chunks [][]byte // else the content, in chunks of FileChunk bytes
}

// Mutate locks chat id's row, applies fn to its record, stores the record
// and appends fn's events with the chat's next seqs. With a requestID
// already applied to the chat (found from the events it appended) it writes
// nothing and returns those events, replayed = true. fn's error writes
// nothing and is returned as is. An unknown chat is ErrNotFound.
//
// Mutates are group-committed: the store's writer runs the Mutates queued
// while its previous transaction committed in one transaction, and each
// returns once that transaction committed. fn may run more than once (when
// the database aborts a transaction for a deadlock, it runs again).
func (s *Store) Mutate(ctx context.Context, id, requestID string, fn model.MutateFunc) (c model.Chat, evs []model.Event, replayed bool, err error) {
	return s.submit(&mutateOp{ctx: ctx, id: id, requestID: requestID, fn: fn, done: make(chan struct{})})
}

// MutateSeated is Mutate for a write that gives chat id to seat.Agent: when
// after fn the agent would sit (a connected participant, not a supervisor)
// in more than seat.Max open chats, counting every chat of the database,
// other gateways' included, it writes nothing and fails with
// model.ErrNoSeat. A replayed request id is answered as by Mutate, without
// a check.
//
// Seated writes of all gateways for one agent take turns on a lock of the
// agent (a transaction-scoped advisory lock, taken after the chat's row
// lock), so two of them never both take its last seat. Each runs through
// the writer in a transaction of its own, in order with the Mutates around
// it: assignments are rare beside appends.
func (s *Store) MutateSeated(ctx context.Context, id, requestID string, seat model.Seat, fn model.MutateFunc) (c model.Chat, evs []model.Event, replayed bool, err error) {
	return s.submit(&mutateOp{ctx: ctx, id: id, requestID: requestID, fn: fn, seat: &seat, done: make(chan struct{})})
}

// submit hands op to the writer and waits for its commit.
func (s *Store) submit(op *mutateOp) (c model.Chat, evs []model.Event, replayed bool, err error) {
	ctx := op.ctx
	select {
	case s.ops <- op:
	case <-s.quit:
		return model.Chat{}, nil, false, errClosed
	case <-ctx.Done():
		return model.Chat{}, nil, false, ctx.Err()
	}
	select {
	case <-op.done:
	case <-ctx.Done():
		// The write may still commit: a retry with the request id tells.
		return model.Chat{}, nil, false, ctx.Err()
	}
	if op.err != nil {
		return model.Chat{}, nil, false, op.err
	}
	return op.chat, op.evs, op.replayed, nil
}

// write is the writer: it takes the Mutates waiting, commits them in one
// transaction, answers them, and starts over, until Close.
func (s *Store) write() {
	defer close(s.done)
	for {
		var batch []*mutateOp
		select {
		case op := <-s.ops:
			batch = append(batch, op)
		case <-s.quit:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case op := <-s.ops:
				batch = append(batch, op)
			default:
				break more
			}
		}
		// A seated op runs alone (its count of the agent's seats must see
		// every seat before it committed), the runs of ops between the
		// seated ones together, in arrival order.
		for len(batch) > 0 {
			n := 1
			if batch[0].seat == nil {
				for n < len(batch) && batch[n].seat == nil {
					n++
				}
			}
			s.commitBatch(batch[:n])
			batch = batch[n:]
		}
	}
}

// batchTimeout bounds one batch's transaction: a database that stopped
// answering fails the batch instead of holding the writer.
const batchTimeout = 30 * time.Second

// commitBatch runs batch in one transaction, again after a deadlock or a
// serialization failure, and answers every op. When the transaction fails
// otherwise, each op of a batch of several runs again alone, so that one
// op the database refuses fails by itself; a failed transaction fails every
// op in it, refused ones too: what fn decided was decided on a state that
// did not commit.
func (s *Store) commitBatch(batch []*mutateOp) {
	var err error
	for range batchRetries {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		start := time.Now()
		err = s.runBatch(ctx, batch)
		busy := time.Since(start)
		cancel()
		if err == nil {
			s.statsMu.Lock()
			s.stats.Commits++
			s.stats.Writes += uint64(len(batch))
			s.stats.Busy += busy
			s.statsMu.Unlock()
		}
		if !retryable(err) {
			break
		}
	}
	if err != nil && len(batch) > 1 {
		for _, op := range batch {
			s.commitBatch([]*mutateOp{op})
		}
		return
	}
	if err == nil {
		writes := make([]model.Committed, 0, len(batch))
		for _, op := range batch {
			if op.err == nil && !op.replayed {
				writes = append(writes, model.Committed{Chat: op.chat, Events: op.evs})
			}
		}
		s.handOff(writes)
	}
	for _, op := range batch {
		if err != nil {
			op.chat, op.evs, op.replayed, op.err = model.Chat{}, nil, false, fmt.Errorf("pgstore: mutate chat %s: %w", op.id, opError(op, err))
		}
		close(op.done)
	}
}

// opError is err, the failure of a transaction holding op alone, as the
// caller is told of it: a file id another gateway's transaction took
// between this one's check and its insert is ErrExists, as a file id taken
// before is.
func opError(op *mutateOp, err error) error {
	var pe *pgconn.PgError
	if op.file != nil && errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "files_pkey" {
		return fmt.Errorf("%w: file %s", model.ErrExists, op.file.f.ID)
	}
	return err
}

// retryable is an abort the same transaction may not meet again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") // deadlock_detected, serialization_failure
}

// batchChat is a chat of a batch as its ops leave it.
type batchChat struct {
	record []byte // the record as last changed, JSON
	last   uint64
	open   bool // the record's chat has not ended
	dirty  bool

	seated       []string // the agents sitting in the chat as last changed (seatedAgents)
	seatsChanged bool     // an op changed seated: the seats rows are rewritten
}

// seatedAgents lists, sorted, the agents that sit in c: its connected
// participants that are not supervisors, while it is open. These are the
// seats rows of the chat.
func seatedAgents(c *model.Chat) []string {
	if c.State == model.StateEnded {
		return nil
	}
	var out []string
	for _, p := range c.Participants {
		if p.ID != "" && p.Connected() && !p.Supervisor {
			out = append(out, p.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// seatLockClass is the first key of the advisory locks of agents' seats
// (the second is a hash of the agent's id): two keys, a space apart from
// the one-key locks of the schema, the directory and the leadership.
const seatLockClass = 0x63787374 // "cxst"

// seatsTaken locks agent's seats for the rest of tx and counts the open
// chats it sits in besides chatID. The count is a statement after the
// lock's, so it sees every seat of the seated writes that held the lock
// before.
func seatsTaken(ctx context.Context, tx pgx.Tx, agent, chatID string) (int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::integer, hashtext($2))`, int32(seatLockClass), agent); err != nil {
		return 0, fmt.Errorf("lock seats of %s: %w", agent, err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM seats WHERE agent_id = $1 AND chat_id <> $2`, agent, chatID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count seats of %s: %w", agent, err)
	}
	return n, nil
}

// runBatch applies batch's ops in order in one transaction and commits it.
// The chats' rows are locked at once, in id order, so writers of several
// gateways never wait on each other in a circle. Each op sees the ones
// before it in the batch: their records, seqs and request ids.
func (s *Store) runBatch(ctx context.Context, batch []*mutateOp) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var ids []string
	for _, op := range batch {
		ids = append(ids, op.id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	chats := make(map[string]*batchChat, len(ids))
	rows, err := tx.Query(ctx, `SELECT id, record, last_seq FROM chats WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			id   string
			st   batchChat
			last int64
		)
		if err := rows.Scan(&id, &st.record, &last); err != nil {
			rows.Close()
			return err
		}
		st.last = uint64(last)
		chats[id] = &st
	}
	if rows.Close(); rows.Err() != nil {
		return rows.Err()
	}
	// A new statement, so a new snapshot: it sees the events of the
	// writers this one waited for at the locks.
	requests, err := appliedRequests(ctx, tx, batch, chats)
	if err != nil {
		return err
	}
	files, err := lockFiles(ctx, tx, batch)
	if err != nil {
		return err
	}
	var (
		evChats, evRequests []*string
		evSeqs              []int64
		evBodies            [][]byte
		feedChats           []string
		feedRows            [][]byte
		// agent_chats rows of the chats that ended
		pastAgents, pastChats []string
		pastEnded             []int64
		// files rows, the staged ids they adopt, their chunks
		fileIDs, fileChats, adopted, chunkFiles []string
		fileRecords, chunkData                  [][]byte
		chunkNs                                 []int32
	)
	feed := s.feedOn.Load()
	for _, op := range batch {
		op.chat, op.evs, op.replayed, op.err = model.Chat{}, nil, false, nil
		if err := op.ctx.Err(); err != nil {
			op.err = err // given up on before it ran: nothing written
			continue
		}
		st := chats[op.id]
		if st == nil {
			op.err = fmt.Errorf("pgstore: %w: chat %s", model.ErrNotFound, op.id)
			continue
		}
		// Each op decodes its own copy: fn may change the record and
		// still refuse, and nothing it touched may reach the next op.
		ch, err := decodeChat(op.id, st.record, int64(st.last))
		if err != nil {
			return err
		}
		key := op.id + "\x00" + op.requestID
		if op.requestID != "" {
			if old, ok := requests[key]; ok {
				op.chat, op.evs, op.replayed = ch, old, true
				continue
			}
		}
		wasOpen := ch.State != model.StateEnded
		seatedBefore := seatedAgents(&ch)
		add, err := op.fn(&ch)
		if err != nil {
			op.err = err
			continue
		}
		ch.ID, ch.LastSeq = op.id, st.last
		added, bodies, err := appendEvents(&ch, add, op.requestID)
		if err != nil {
			op.err = fmt.Errorf("pgstore: mutate chat %s: %w", op.id, err)
			continue
		}
		seated := seatedAgents(&ch)
		if op.seat != nil && slices.Contains(seated, op.seat.Agent) {
			// After the chats' row locks, and alone in its batch (write):
			// one agent's lock per transaction, so no cycle.
			taken, err := seatsTaken(ctx, tx, op.seat.Agent, op.id)
			if err != nil {
				return err
			}
			if taken+1 > op.seat.Max {
				op.err = fmt.Errorf("pgstore: mutate chat %s: %w: agent %s sits in %d other chats, at most %d", op.id, model.ErrNoSeat, op.seat.Agent, taken, op.seat.Max)
				continue
			}
		}
		var fileRecord []byte
		if op.file != nil {
			if fileRecord, err = files.add(&ch, op.file, added); err != nil {
				op.err = fmt.Errorf("pgstore: add file to chat %s: %w", op.id, err)
				continue
			}
		}
		record, err := json.Marshal(ch)
		if err != nil {
			op.err = fmt.Errorf("pgstore: mutate chat %s: %w", op.id, err)
			continue
		}
		var row []byte // the change row, while the feed is on
		if feed && len(added) > 0 {
			if row, err = changeRow(&ch, added); err != nil {
				op.err = fmt.Errorf("pgstore: mutate chat %s: %w", op.id, err)
				continue
			}
			feedChats, feedRows = append(feedChats, op.id), append(feedRows, row)
		}
		if len(added) > 0 || !slices.Equal(record, st.record) {
			st.record, st.last, st.open, st.dirty = record, ch.LastSeq, ch.State != model.StateEnded, true
			st.seated = seated
			if !slices.Equal(seated, seatedBefore) {
				st.seatsChanged = true
			}
		}
		if wasOpen && ch.State == model.StateEnded {
			// Listed among its agents' past chats as it ends, as the
			// bbolt store lists it: with the participants it ended with.
			for _, p := range ch.Participants {
				if p.ID != "" {
					pastAgents, pastEnded, pastChats = append(pastAgents, p.ID), append(pastEnded, max(ch.EndedAt, 0)), append(pastChats, op.id)
				}
			}
		}
		if op.file != nil {
			f := op.file
			files.mark(f)
			fileIDs, fileChats, fileRecords = append(fileIDs, f.f.ID), append(fileChats, op.id), append(fileRecords, fileRecord)
			if f.staged {
				adopted = append(adopted, f.f.ID)
			}
			for n, data := range f.chunks {
				chunkFiles, chunkNs, chunkData = append(chunkFiles, f.f.ID), append(chunkNs, int32(n)), append(chunkData, data)
			}
		}
		for i, ev := range added {
			evChats = append(evChats, &op.id)
			evSeqs = append(evSeqs, int64(ev.Seq))
			evRequests = append(evRequests, nullable(op.requestID))
			evBodies = append(evBodies, bodies[i])
		}
		if op.requestID != "" && len(added) > 0 {
			requests[key] = added
		}
		op.chat, op.evs = ch, added
	}
	var (
		upIDs     []string
		upRecords [][]byte
		upLast    []int64
		upOpen    []bool
	)
	for _, id := range ids {
		if st := chats[id]; st != nil && st.dirty {
			upIDs, upRecords, upLast, upOpen = append(upIDs, id), append(upRecords, st.record), append(upLast, int64(st.last)), append(upOpen, st.open)
		}
	}
	var seatChats, seatAgents, seatAgentChats []string // the chats whose seats are rewritten, and their rows
	for _, id := range ids {
		if st := chats[id]; st != nil && st.dirty && st.seatsChanged {
			seatChats = append(seatChats, id)
			for _, a := range st.seated {
				seatAgents, seatAgentChats = append(seatAgents, a), append(seatAgentChats, id)
			}
		}
	}
	if len(upIDs) == 0 {
		return nil // nothing to write: the rollback releases the locks
	}
	b := &pgx.Batch{}
	// One statement for every record of the batch and the past chats of
	// those that ended (a chat ending twice at one time is listed once).
	b.Queue(`WITH up AS (
			UPDATE chats SET record = u.record, last_seq = u.last_seq, open = u.open
			FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::boolean[]) AS u(id, record, last_seq, open)
			WHERE chats.id = u.id)
		INSERT INTO agent_chats (agent_id, ended_at, chat_id)
		SELECT * FROM unnest($5::text[], $6::bigint[], $7::text[]) ON CONFLICT DO NOTHING`,
		upIDs, upRecords, upLast, upOpen, pastAgents, pastEnded, pastChats)
	if len(seatChats) > 0 {
		// Only when a chat's seats changed (an assignment, a leave, an
		// end): appends leave them alone.
		b.Queue(`DELETE FROM seats WHERE chat_id = ANY($1::text[])`, seatChats)
		if len(seatAgents) > 0 {
			b.Queue(`INSERT INTO seats (agent_id, chat_id) SELECT * FROM unnest($1::text[], $2::text[])`, seatAgents, seatAgentChats)
		}
	}
	if len(fileIDs) > 0 {
		// The files rows, adopting their staged content: the staged rows
		// (locked by lockFiles) go, their chunks stay under the file's id.
		b.Queue(`WITH adopted AS (DELETE FROM staged_files WHERE id = ANY($4::text[]))
			INSERT INTO files (id, chat_id, record) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])`,
			fileIDs, fileChats, fileRecords, adopted)
	}
	if len(chunkFiles) > 0 {
		b.Queue(`INSERT INTO file_chunks (file_id, n, data) SELECT * FROM unnest($1::text[], $2::integer[], $3::bytea[])`,
			chunkFiles, chunkNs, chunkData)
	}
	if len(evSeqs) > 0 {
		b.Queue(`INSERT INTO events (chat_id, seq, request_id, body)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[])`,
			evChats, evSeqs, evRequests, evBodies)
	}
	if len(feedRows) > 0 {
		b.Queue(insertChangesSQL, feedChats, feedRows)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if len(feedRows) > 0 {
		s.poke()
	}
	return nil
}

// appliedRequests finds the events already appended by the request ids of
// batch's ops, keyed by chat id, a zero byte and the request id.
func appliedRequests(ctx context.Context, tx pgx.Tx, batch []*mutateOp, chats map[string]*batchChat) (map[string][]model.Event, error) {
	var chatIDs, requestIDs []string
	seen := map[string]bool{}
	for _, op := range batch {
		key := op.id + "\x00" + op.requestID
		if op.requestID == "" || chats[op.id] == nil || seen[key] {
			continue
		}
		seen[key] = true
		chatIDs, requestIDs = append(chatIDs, op.id), append(requestIDs, op.requestID)
	}
	out := map[string][]model.Event{}
	if len(chatIDs) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT e.chat_id, e.request_id, e.body
		FROM unnest($1::text[], $2::text[]) AS r(chat_id, request_id)
		JOIN events e ON e.chat_id = r.chat_id AND e.request_id = r.request_id
		ORDER BY e.chat_id, e.seq`, chatIDs, requestIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			chatID, requestID string
			body              []byte
		)
		if err := rows.Scan(&chatID, &requestID, &body); err != nil {
			return nil, err
		}
		var ev model.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, fmt.Errorf("decode event of %s: %w", chatID, err)
		}
		key := chatID + "\x00" + requestID
		out[key] = append(out[key], ev)
	}
	return out, rows.Err()
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
