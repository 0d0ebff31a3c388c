package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const schemaVersion = 3

// migrations[v-1] turns a file of schema v into one of v+1, inside Open's
// transaction.
var migrations = []func(tx *bolt.Tx) error{
	reindexOutboxDue, // 1 → 2: outbox_due keyed by subscription first
	flattenEvents,    // 2 → 3: one log bucket for every chat's events; no requests bucket
}

var (
	bucketMeta          = []byte("meta")
	bucketDeployments   = []byte("deployments")
	bucketIdentities    = []byte("identities")
	bucketChats         = []byte("chats")
	bucketOpen          = []byte("open")
	bucketLog           = []byte("log")
	bucketStarts        = []byte("starts")
	bucketTokens        = []byte("tokens")
	bucketIdentityChats = []byte("identity_chats")
	bucketOutbox        = []byte("outbox")
	bucketOutboxDue     = []byte("outbox_due")
	bucketDead          = []byte("dead")
)

var allBuckets = [][]byte{bucketMeta, bucketDeployments, bucketIdentities, bucketChats, bucketOpen,
	bucketLog, bucketStarts, bucketTokens, bucketIdentityChats,
	bucketOutbox, bucketOutboxDue, bucketDead, bucketQueues, bucketAgents, bucketWebhooks,
	bucketFiles, bucketFileData, bucketLeft, bucketLeftOpen, bucketLeftAnswered, bucketIdentityLeft, bucketAgentChats,
	bucketFileStaged, bucketChangeFeed}

// Options tunes a store. The zero value is the production default.
type Options struct {
	// MaxBatch caps how many queued writes share one transaction; 0 means 4096.
	MaxBatch int
	// NoSync skips fsync: for benchmarks of everything but the disk. Never in
	// production: an acknowledged write could be lost.
	NoSync bool
	// ObserveCommit, if set, hears of every committed transaction: how many
	// writes it carried and how long it took, fsync included. For metrics;
	// it runs on the writer goroutine and must be cheap.
	ObserveCommit func(writes int, d time.Duration)
}

// Stats counts the writer's work since Open.
type Stats struct {
	Commits uint64        // transactions committed
	Writes  uint64        // writes acknowledged
	Busy    time.Duration // time spent inside transactions
}

// Store is the bbolt-backed store.
type Store struct {
	db         *bolt.DB
	opts       Options
	sessionKey []byte // signs session data; made once per store file
	chats      *chatCache

	mu     sync.RWMutex // held for reading while submitting; Close takes it to stop submissions
	closed bool
	ops    chan *op
	quit   chan struct{}
	done   chan struct{}

	// follower, once Follow was called, receives every committed batch; the
	// writer sends, and closes it when it stops.
	follower atomic.Pointer[chan *model.Batch]
	// feed is poked after a commit that wrote change-feed rows (see
	// SetChangeFeed); cap 1, never blocks the writer.
	feed   chan struct{}
	feedOn atomic.Bool

	statsMu sync.Mutex
	stats   Stats

	// The committed number of pending and dead outbox entries: counted at
	// Open, then changed by the writer after each commit (see outboxDelta).
	pendingN, deadN atomic.Int64
}

// op is one queued write. apply may run more than once (when another write of
// its batch fails), so it must reset what it records.
type op struct {
	apply     func(tx *bolt.Tx) error
	committed *model.Committed // set by apply when there is something to hand to the follower
	outbox    outboxDelta      // what apply did to the outbox's sizes
	feed      bool             // apply wrote a change-feed row
	err       error
	done      chan struct{}
}

// safeApply runs apply, turning a panic into that op's failure so one bad
// write cannot kill the writer goroutine and with it every later write.
func (o *op) safeApply(tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return o.apply(tx)
}

// skip marks an op error that happened before the op wrote anything: the
// transaction goes on without it.
type skip struct{ err error }

func (s skip) Error() string { return s.err.Error() }
func (s skip) Unwrap() error { return s.err }

// Open opens or creates the store file at path and starts its writer.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	// bbolt trusts the file it maps: a damaged page makes it panic, a
	// truncated file makes it fault. The walk reads the file first and
	// names what is wrong instead (it costs about what bbolt's own scan at
	// open does; see docs/backup.md).
	if err := CheckFile(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path, &bolt.Options{Timeout: time.Second, NoSync: opts.NoSync,
		// The freelist is not written on every commit (fewer pages per
		// fsync); bbolt rebuilds it by scanning the file when it opens.
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, ErrDamaged) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var sessionKey []byte
	var pending, dead int
	err = db.Update(func(tx *bolt.Tx) (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if p := recover(); p != nil {
				err = &DamagedError{Path: path, Problems: []string{fmt.Sprint("reading it failed: ", p)}}
			}
		}()
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := initLifecycle(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if k := meta.Get([]byte("sessionKey")); k != nil {
			sessionKey = bytes.Clone(k)
		} else {
			sessionKey = make([]byte, 32)
			if _, err := rand.Read(sessionKey); err != nil {
				return err
			}
			if err := meta.Put([]byte("sessionKey"), sessionKey); err != nil {
				return err
			}
		}
		if v := meta.Get([]byte("schema")); v != nil {
			got := binary.BigEndian.Uint64(v)
			if got == 0 || got > schemaVersion {
				return fmt.Errorf("schema version %d, this build reads up to %d", got, schemaVersion)
			}
			for from := got; from < schemaVersion; from++ {
				if err := migrations[from-1](tx); err != nil {
					return fmt.Errorf("migrate schema %d to %d: %w", from, from+1, err)
				}
			}
			if got != schemaVersion {
				if err := meta.Put([]byte("schema"), u64(schemaVersion)); err != nil {
					return err
				}
			}
		} else if err := meta.Put([]byte("schema"), u64(schemaVersion)); err != nil {
			return err
		}
		// No upload outlives the process: whatever is staged was abandoned.
		if _, err := sweepStaged(tx, math.MaxInt64, math.MaxInt); err != nil {
			return err
		}
		pending, dead = countOutbox(tx)
		return nil
	})
	if errors.Is(err, ErrDamaged) {
		_ = db.Close()
		return nil, err
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	s := &Store{
		db:         db,
		opts:       opts,
		sessionKey: sessionKey,
		chats:      newChatCache(),
		ops:        make(chan *op, opts.MaxBatch),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		feed:       make(chan struct{}, 1),
	}
	s.pendingN.Store(int64(pending))
	s.deadN.Store(int64(dead))
	go s.write()
	return s, nil
}

// Close stops accepting writes, commits every write already queued, and
// closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	return s.db.Close()
}

// SessionKey is a random secret made when the file was created, kept in it:
// it signs session data, so restores survive restarts but not a new store.
func (s *Store) SessionKey() []byte { return bytes.Clone(s.sessionKey) }

// Ping waits for the writer to commit an empty write: it proves the writer
// goroutine is alive and the file writable, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	o := &op{apply: func(*bolt.Tx) error { return nil }}
	return s.submit(ctx, o)
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats
}

// Check runs bbolt's consistency check. It runs on the writer goroutine, in
// a transaction of its own that writes nothing, because bbolt's freelist is the
// live one: checked from a read transaction beside concurrent writes it
// reports pages as wrongly freed.
func (s *Store) Check() error {
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			return skip{err}
		}
		return nil
	}
	return s.submit(context.Background(), o)
}

// view runs fn in a read-only transaction; after Close it returns ErrClosed.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return model.ErrClosed
	}
	return err
}

// submit queues o and waits for its commit. A ctx that has already ended
// queues nothing. If ctx ends while o is queued the write may still commit
// later; callers make retries safe with request ids. After an error o's
// results must not be read: the writer may still be filling them in.
func (s *Store) submit(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.done = make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return model.ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Follow hands every later commit, in commit order, to the caller. The
// writer never runs the follower's work (the engine's view, fan-out to the
// bus and sockets) but starts its next transaction only once the follower
// is done with the last batch, and each write is answered then. Letting the
// next transaction overlap the dispatch was measured and lost on two cores:
// under 10,000 durable writes/s the two competed for the CPU, each
// transaction took longer and the batches were smaller, and visitor → agent
// p99 went from 64–68 ms to 113–272 ms (docs/performance.md). The channel is
// closed when the store closes, after the last batch. Follow may be called
// once; writes committed before it are answered at once.
func (s *Store) Follow() (<-chan *model.Batch, error) {
	ch := make(chan *model.Batch, 1)
	if !s.follower.CompareAndSwap(nil, &ch) {
		return nil, errors.New("store: already followed")
	}
	return ch, nil
}

// write is the writer goroutine: it owns every write transaction.
func (s *Store) write() {
	defer close(s.done)
	defer func() {
		if f := s.follower.Load(); f != nil {
			close(*f)
		}
	}()
	batch := make([]*op, 0, s.opts.MaxBatch)
	for {
		select {
		case o := <-s.ops:
			batch = append(batch[:0], o)
		case <-s.quit:
			// Submitters are stopped; commit whatever they queued, then stop.
			for {
				batch = s.drain(batch[:0])
				if len(batch) == 0 {
					return
				}
				s.commit(batch)
			}
		}
		s.commit(s.drain(batch))
	}
}

// drain appends queued ops to batch without waiting, up to MaxBatch.
func (s *Store) drain(batch []*op) []*op {
	for len(batch) < s.opts.MaxBatch {
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// commit applies batch in one transaction. An op that fails after writing
// aborts the transaction; it is answered with its error and the rest are
// retried without it.
func (s *Store) commit(batch []*op) {
	for len(batch) > 0 {
		s.chats.rollback() // a retried batch starts from committed state
		start := time.Now()
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, o := range batch {
				o.err, o.committed, o.outbox, o.feed = nil, nil, outboxDelta{}, false
				if err := o.safeApply(tx); err != nil {
					var sk skip
					if errors.As(err, &sk) {
						o.err = sk.err
						continue
					}
					failed = i
					return err
				}
			}
			return nil
		})
		busy := time.Since(start)
		if err == nil {
			s.chats.commit()
			s.countCommitted(batch)
			if s.opts.ObserveCommit != nil {
				s.opts.ObserveCommit(len(batch), busy)
			}
			s.statsMu.Lock()
			s.stats.Commits++
			s.stats.Writes += uint64(len(batch))
			s.stats.Busy += busy
			s.statsMu.Unlock()
			if wroteFeed(batch) {
				select {
				case s.feed <- struct{}{}:
				default:
				}
			}
			f := s.follower.Load()
			if f == nil {
				for _, o := range batch {
					close(o.done)
				}
				return
			}
			var writes []model.Committed
			for _, o := range batch {
				if o.err == nil && o.committed != nil {
					writes = append(writes, *o.committed)
				}
			}
			// batch is not reused before the dispatch is done: no copy.
			dispatched := make(chan struct{})
			*f <- model.NewBatch(writes, func() {
				for _, o := range batch {
					close(o.done)
				}
				close(dispatched)
			})
			<-dispatched // see Follow: the next transaction waits for the dispatch
			return
		}
		s.chats.rollback()
		if failed < 0 {
			// The commit itself failed (disk): nobody's write is durable.
			for _, o := range batch {
				o.err = fmt.Errorf("store: commit: %w", err)
				close(o.done)
			}
			return
		}
		f := batch[failed]
		f.err = fmt.Errorf("store: write: %w", err)
		close(f.done)
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
