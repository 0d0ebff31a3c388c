package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cxgate/cxgate/model"
)

// Store is the event log in a PostgreSQL database. Its methods are safe for
// concurrent use, also by several gateways on one database.
type Store struct {
	pool       *pgxpool.Pool
	sessionKey []byte // signs session data; made once per database

	ops       chan *mutateOp // to the writer
	quit      chan struct{}  // closed by Close: the writer stops
	done      chan struct{}  // closed by the writer when it stopped
	closeOnce sync.Once

	feedOn   atomic.Bool   // SetChangeFeed: writes that append events write change rows
	feed     chan struct{} // ChangeFeedSignal's: poked after commits that wrote rows, and on a timer
	feedMu   sync.Mutex
	feedRead []uint64      // the ids of the change rows Changes returned last (see ConsumeChanges)
	poked    chan struct{} // closed when the feed's timer stopped

	statsMu sync.Mutex
	stats   Stats

	followMu     sync.RWMutex // held to send on follow, taken alone to close it
	follow       chan *model.Batch
	followClosed bool
}

// Open connects to the database at url (a PostgreSQL URL or key=value
// string, as pgx reads it) and creates or migrates the schema.
func Open(ctx context.Context, url string) (*Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: schema: %w", err)
	}
	key, err := loadSessionKey(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: session key: %w", err)
	}
	s := &Store{pool: pool, sessionKey: key, ops: make(chan *mutateOp), quit: make(chan struct{}), done: make(chan struct{}),
		feed: make(chan struct{}, 1), poked: make(chan struct{})}
	go s.write()
	go s.pokeFeed()
	return s, nil
}

// Close stops the writer once its transaction ended (Mutates after it fail)
// and closes the connections once the calls using them returned.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.done
		s.closeFollow()
		<-s.poked
		s.pool.Close()
	})
	return nil
}

// startRetries bounds how often CreateChat starts over after losing a race
// for its start key to another gateway's insert (which it then finds).
const startRetries = 3

// CreateChat stores a new chat and its first events (seqs from 1), with its
// identity (created or replaced) and its visitor token when it has them.
// When StartKey was already used on the chat's deployment, nothing is
// written and the chat it created is returned with existing = true. A chat
// id already taken is ErrExists.
func (s *Store) CreateChat(ctx context.Context, n model.NewChat) (c model.Chat, existing bool, err error) {
	if n.Chat.ID == "" {
		return model.Chat{}, false, errors.New("pgstore: create chat: empty chat id")
	}
	if strings.ContainsFunc(n.Chat.ID, func(r rune) bool { return r < 0x20 }) {
		return model.Chat{}, false, fmt.Errorf("pgstore: create chat: id %q holds a control character", n.Chat.ID)
	}
	for attempt := range startRetries {
		c, existing, err = s.createChat(ctx, n, attempt > 0)
		if !errors.Is(err, errStartTaken) {
			break
		}
	}
	if err != nil {
		return model.Chat{}, false, fmt.Errorf("pgstore: create chat %s: %w", n.Chat.ID, err)
	}
	return c, existing, nil
}

// errStartTaken is a concurrent start with the same key committing first:
// the next attempt finds its chat.
var errStartTaken = errors.New("start key taken meanwhile")

// createChat is one attempt of CreateChat; raced is true after an attempt
// lost to a concurrent insert.
func (s *Store) createChat(ctx context.Context, n model.NewChat, raced bool) (c model.Chat, existing bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return model.Chat{}, false, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var startKey *string
	if n.StartKey != "" {
		startKey = &n.StartKey
		var (
			id     string
			record []byte
			last   int64
		)
		err := tx.QueryRow(ctx, `SELECT id, record, last_seq FROM chats WHERE deployment = $1 AND start_key = $2`,
			n.Chat.Deployment, n.StartKey).Scan(&id, &record, &last)
		switch {
		case err == nil:
			c, err := decodeChat(id, record, last)
			return c, true, err
		case !errors.Is(err, pgx.ErrNoRows):
			return model.Chat{}, false, err
		}
	}
	ch := n.Chat
	ch.LastSeq = 0
	evs, bodies, err := appendEvents(&ch, n.Events, "")
	if err != nil {
		return model.Chat{}, false, err
	}
	record, err := json.Marshal(ch)
	if err != nil {
		return model.Chat{}, false, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO chats (id, deployment, start_key, last_seq, record, open, identity_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		ch.ID, ch.Deployment, startKey, int64(ch.LastSeq), record, ch.State != model.StateEnded, nullable(ch.IdentityID))
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		// A retry of a start with the same chat id may be told of either
		// index: look again once for the start key before calling the id
		// taken.
		if pe.ConstraintName == "chats_start" || (startKey != nil && !raced) {
			return model.Chat{}, false, errStartTaken
		}
		return model.Chat{}, false, fmt.Errorf("%w: chat %s", model.ErrExists, ch.ID)
	}
	if err != nil {
		return model.Chat{}, false, err
	}
	if err := insertEvents(ctx, tx, ch.ID, evs, bodies, ""); err != nil {
		return model.Chat{}, false, err
	}
	if seated := seatedAgents(&ch); len(seated) > 0 {
		// A chat created with its agents (an import, a test) seats them
		// unchecked: only MutateSeated refuses.
		if _, err := tx.Exec(ctx, `INSERT INTO seats (agent_id, chat_id) SELECT unnest($1::text[]), $2`, seated, ch.ID); err != nil {
			return model.Chat{}, false, fmt.Errorf("write seats: %w", err)
		}
	}
	if n.Identity != nil {
		if err := putIdentity(ctx, tx, *n.Identity); err != nil {
			return model.Chat{}, false, fmt.Errorf("put identity %s: %w", n.Identity.ID, err)
		}
	}
	if len(n.TokenHash) > 0 {
		tok := model.Token{Kind: "visitor", ChatID: ch.ID, IdentityID: ch.IdentityID, CreatedAt: ch.CreatedAt}
		if err := putToken(ctx, tx, n.TokenHash, tok); err != nil {
			return model.Chat{}, false, fmt.Errorf("put token: %w", err)
		}
	}
	feed := s.feedOn.Load() && len(evs) > 0
	if feed {
		row, err := changeRow(&ch, evs)
		if err != nil {
			return model.Chat{}, false, err
		}
		if _, err := tx.Exec(ctx, insertChangesSQL, []string{ch.ID}, [][]byte{row}); err != nil {
			return model.Chat{}, false, fmt.Errorf("write change row: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return model.Chat{}, false, err
	}
	if feed {
		s.poke()
	}
	s.handOff([]model.Committed{{Chat: ch, Events: evs}})
	return ch, false, nil
}

// appendEvents gives each event the chat's next seq and tags it with
// requestID, as the bbolt store does, advancing the record's LastSeq and
// LastActivity; it returns the events and their JSON.
func appendEvents(ch *model.Chat, add []model.Event, requestID string) ([]model.Event, [][]byte, error) {
	if len(add) == 0 {
		return nil, nil, nil
	}
	out := make([]model.Event, len(add))
	bodies := make([][]byte, len(add))
	for i, ev := range add {
		ev.Seq = ch.LastSeq + 1
		if requestID != "" && ev.RequestID == "" {
			ev.RequestID = requestID
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, fmt.Errorf("encode event %d: %w", ev.Seq, err)
		}
		out[i], bodies[i] = ev, b
		ch.LastSeq = ev.Seq
		if ev.Time > ch.LastActivity {
			ch.LastActivity = ev.Time
		}
	}
	return out, bodies, nil
}

// insertEvents writes events in one statement, whatever their number.
func insertEvents(ctx context.Context, tx pgx.Tx, chatID string, evs []model.Event, bodies [][]byte, requestID string) error {
	if len(evs) == 0 {
		return nil
	}
	seqs := make([]int64, len(evs))
	for i, ev := range evs {
		seqs[i] = int64(ev.Seq)
	}
	var rq *string
	if requestID != "" {
		rq = &requestID
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (chat_id, seq, request_id, body)
		SELECT $1, u.seq, $3, u.body FROM unnest($2::bigint[], $4::bytea[]) AS u(seq, body)`,
		chatID, seqs, rq, bodies)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryEvents decodes the bodies sql selects.
func queryEvents(ctx context.Context, q querier, sql string, args ...any) ([]model.Event, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []model.Event
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var ev model.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		evs = append(evs, ev)
	}
	return evs, rows.Err()
}

func decodeChat(id string, record []byte, last int64) (model.Chat, error) {
	var c model.Chat
	if err := json.Unmarshal(record, &c); err != nil {
		return model.Chat{}, fmt.Errorf("decode chat %s: %w", id, err)
	}
	c.ID, c.LastSeq = id, uint64(last)
	return c, nil
}

// Chat reads one chat. An unknown id is ErrNotFound.
func (s *Store) Chat(ctx context.Context, id string) (model.Chat, error) {
	var (
		record []byte
		last   int64
	)
	err := s.pool.QueryRow(ctx, `SELECT record, last_seq FROM chats WHERE id = $1`, id).Scan(&record, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return model.Chat{}, fmt.Errorf("pgstore: %w: chat %s", model.ErrNotFound, id)
	}
	if err != nil {
		return model.Chat{}, fmt.Errorf("pgstore: read chat %s: %w", id, err)
	}
	c, err := decodeChat(id, record, last)
	if err != nil {
		return model.Chat{}, fmt.Errorf("pgstore: %w", err)
	}
	return c, nil
}

// EventsAfter reads up to limit events of a chat with seq > after, oldest
// first. An unknown chat is ErrNotFound.
func (s *Store) EventsAfter(ctx context.Context, chatID string, after uint64, limit int) ([]model.Event, error) {
	var evs []model.Event
	var err error
	if after < math.MaxInt64 && limit > 0 {
		evs, err = queryEvents(ctx, s.pool, `SELECT body FROM events WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
			chatID, int64(after), limit)
		if err != nil {
			return nil, fmt.Errorf("pgstore: events of %s after %d: %w", chatID, after, err)
		}
	}
	if len(evs) == 0 {
		return nil, s.mustExist(ctx, chatID)
	}
	return evs, nil
}

// EventsBefore reads up to limit events of a chat with seq < before (before
// 0 means from the end), returned oldest first. An unknown chat is
// ErrNotFound.
func (s *Store) EventsBefore(ctx context.Context, chatID string, before uint64, limit int) ([]model.Event, error) {
	var evs []model.Event
	var err error
	if limit > 0 {
		bound := int64(math.MaxInt64) // before 0, or beyond every seq: from the newest
		if before > 0 && before < math.MaxInt64 {
			bound = int64(before)
		}
		evs, err = queryEvents(ctx, s.pool, `SELECT body FROM events WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
			chatID, bound, limit)
		if err != nil {
			return nil, fmt.Errorf("pgstore: events of %s before %d: %w", chatID, before, err)
		}
	}
	if len(evs) == 0 {
		return nil, s.mustExist(ctx, chatID)
	}
	slices.Reverse(evs)
	return evs, nil
}

// mustExist is ErrNotFound for an unknown chat: an empty page of events
// does not tell.
func (s *Store) mustExist(ctx context.Context, chatID string) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM chats WHERE id = $1)`, chatID).Scan(&ok); err != nil {
		return fmt.Errorf("pgstore: read chat %s: %w", chatID, err)
	}
	if !ok {
		return fmt.Errorf("pgstore: %w: chat %s", model.ErrNotFound, chatID)
	}
	return nil
}
