package store_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
	"github.com/cxgate/cxgate/store/logtest"
)

// Run: go test -run '^$' -bench . -benchtime 2s ./store/
//
// BenchmarkAppend and BenchmarkBareGroupCommit are one comparison (DESIGN.md:
// store appends at ≥ 50% of a bare bbolt group-commit loop): both durable
// (fsync per commit), both writing 200-byte values, both batching up to 4096
// queued writes per transaction, with the same writer goroutines driving them.

var benchWriters = []int{1, 16, 256}

// benchValueSize is the size of one stored value in both append benchmarks:
// the bare loop's value, and the JSON encoding of the store's event.
const benchValueSize = 200

func TestMain(m *testing.M) {
	logtest.RunChild(openConformance) // the conformance suite's kill -9 child, when this is one
	runSyncChild()                    // the durability test's child, when this is one
	code := m.Run()
	if history.dir != "" {
		_ = os.RemoveAll(history.dir)
	}
	os.Exit(code)
}

// benchMessage returns a Message event whose JSON encoding is
// benchValueSize bytes once it has a 6-digit seq (a byte less or more for
// shorter or longer ones).
func benchMessage() model.Event {
	ev := message("x")
	ev.Seq = 100_000
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	ev.Seq = 0
	ev.Text = strings.Repeat("x", benchValueSize-len(b)+1)
	return ev
}

// runWriters runs write from writers goroutines, once per b.Loop iteration
// in all, and reports appends/s over the wall time including the last
// writes in flight when the loop ended.
func runWriters(b *testing.B, writers int, write func() error) {
	b.Helper()
	work := make(chan struct{})
	var (
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range writers {
		wg.Go(func() {
			for range work {
				if err := write(); err != nil {
					if failed.Add(1) == 1 {
						b.Errorf("write: %v", err)
					}
				}
			}
		})
	}
	b.ReportAllocs()
	b.SetBytes(benchValueSize)
	start := time.Now()
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(failed.Load()), "failures")
}

func BenchmarkAppend(b *testing.B) {
	ev := benchMessage()
	if n, _ := json.Marshal(model.Event{Seq: 123_456, Type: ev.Type, From: ev.From, Text: ev.Text, Time: ev.Time}); len(n) != benchValueSize {
		b.Fatalf("event encodes to %d bytes, want %d", len(n), benchValueSize)
	}
	fn := appendFn(ev)
	for _, writers := range benchWriters {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, _ := newTestStore(b, store.Options{})
			mustCreateChat(b, s, "bench")
			ctx := context.Background()
			before := s.Stats()
			runWriters(b, writers, func() error {
				_, _, _, err := s.Mutate(ctx, "bench", "", fn)
				return err
			})
			st := s.Stats()
			b.ReportMetric(float64(st.Writes-before.Writes)/float64(st.Commits-before.Commits), "writes/commit")
		})
	}
}

// bareLoop is the baseline: the smallest bbolt group-commit loop. One
// goroutine drains the queue, puts every queued value under NextSequence in
// one bucket in one transaction, commits (fsync), then acknowledges.
type bareLoop struct {
	db   *bolt.DB
	ops  chan *bareOp
	quit chan struct{}
	done chan struct{}

	commits, writes atomic.Uint64
}

type bareOp struct {
	value []byte
	err   error
	done  chan struct{}
}

const bareMaxBatch = 4096 // store.Options.MaxBatch's default

var bareBucket = []byte("events")

func newBareLoop(tb testing.TB) *bareLoop {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "bare.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bareBucket)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	l := &bareLoop{db: db, ops: make(chan *bareOp, bareMaxBatch), quit: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	tb.Cleanup(func() {
		close(l.quit)
		<-l.done
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return l
}

func (l *bareLoop) append(value []byte) error {
	o := &bareOp{value: value, done: make(chan struct{})}
	l.ops <- o
	<-o.done
	return o.err
}

func (l *bareLoop) run() {
	defer close(l.done)
	batch := make([]*bareOp, 0, bareMaxBatch)
	for {
		select {
		case o := <-l.ops:
			batch = append(batch[:0], o)
		case <-l.quit:
			return
		}
	drain:
		for len(batch) < bareMaxBatch {
			select {
			case o := <-l.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		err := l.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bareBucket)
			for _, o := range batch {
				seq, err := b.NextSequence()
				if err != nil {
					return err
				}
				key := make([]byte, 8)
				binary.BigEndian.PutUint64(key, seq)
				if err := b.Put(key, o.value); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			l.commits.Add(1)
			l.writes.Add(uint64(len(batch)))
		}
		for _, o := range batch {
			o.err = err
			close(o.done)
		}
	}
}

func BenchmarkBareGroupCommit(b *testing.B) {
	value := []byte(strings.Repeat("x", benchValueSize))
	for _, writers := range benchWriters {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l := newBareLoop(b)
			runWriters(b, writers, func() error { return l.append(value) })
			b.ReportMetric(float64(l.writes.Load())/float64(l.commits.Load()), "writes/commit")
		})
	}
}

// history is the chat of historyEvents events BenchmarkHistoryPage reads,
// built at most once per test binary run, and only when that benchmark runs
// (benchmarks run only with -bench); TestMain removes it.
var history struct {
	once  sync.Once
	dir   string
	path  string
	took  time.Duration
	err   error
	bytes int64
}

const (
	historyEvents = 1_000_000
	historyChat   = "history"
)

func historyFile(b *testing.B) string {
	b.Helper()
	history.once.Do(func() {
		history.dir, history.err = os.MkdirTemp("", "cxgate-store-bench-")
		if history.err != nil {
			return
		}
		history.path = filepath.Join(history.dir, "history.db")
		start := time.Now()
		history.err = buildHistory(history.path)
		history.took = time.Since(start)
		if fi, err := os.Stat(history.path); err == nil {
			history.bytes = fi.Size()
		}
	})
	if history.err != nil {
		b.Fatalf("build history: %v", history.err)
	}
	b.Logf("history: %d events, %d MiB file, built in %v", historyEvents, history.bytes>>20, history.took.Round(time.Millisecond))
	return history.path
}

// buildHistory appends historyEvents messages to one chat, without fsync
// and 1,000 events per write from a few writers, so that they batch.
func buildHistory(path string) (err error) {
	s, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}()
	ctx := context.Background()
	if _, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat(historyChat, "dep")}); err != nil {
		return err
	}
	const perWrite = 1000
	add := make([]model.Event, perWrite)
	for i := range add {
		add[i] = benchMessage()
		add[i].Time += int64(i)
	}
	fn := appendFn(add...)
	jobs := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range cap(errs) {
		wg.Go(func() {
			for range jobs {
				if _, _, _, err := s.Mutate(ctx, historyChat, "", fn); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range historyEvents / perWrite {
		select {
		case jobs <- struct{}{}:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	c, err := s.Chat(ctx, historyChat)
	if err != nil {
		return err
	}
	if c.LastSeq != historyEvents {
		return fmt.Errorf("history has %d events, want %d", c.LastSeq, historyEvents)
	}
	return nil
}

func BenchmarkHistoryPage(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a chat of 1,000,000 events")
	}
	path := historyFile(b)
	s := openTestStore(b, path, store.Options{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var wrong int
	b.ReportAllocs()
	for b.Loop() {
		before := rng.Uint64N(historyEvents) + 1
		evs, err := s.EventsBefore(ctx, historyChat, before, 100)
		if err != nil {
			b.Fatal(err)
		}
		if want := min(before-1, 100); uint64(len(evs)) != want || (want > 0 && evs[len(evs)-1].Seq != before-1) {
			wrong++
		}
	}
	b.ReportMetric(float64(wrong), "wrong-pages")
}
