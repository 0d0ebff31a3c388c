package logtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
)

// Log is what the suite needs of a backend: the event log with the chat
// records beside it.
type Log interface {
	// CreateChat stores a new chat and its first events (seqs from 1);
	// with a StartKey already used on the deployment it writes nothing
	// and returns that chat with existing = true.
	CreateChat(ctx context.Context, n model.NewChat) (c model.Chat, existing bool, err error)
	// Mutate changes the chat record and appends fn's events with the
	// chat's next seqs, in one transaction; with a request id already
	// applied it writes nothing and returns the first attempt's events.
	Mutate(ctx context.Context, id, requestID string, fn model.MutateFunc) (c model.Chat, evs []model.Event, replayed bool, err error)
	Chat(ctx context.Context, id string) (model.Chat, error)
	EventsAfter(ctx context.Context, chatID string, after uint64, limit int) ([]model.Event, error)
	EventsBefore(ctx context.Context, chatID string, before uint64, limit int) ([]model.Event, error)
	Close() error
}

// Opener opens the backend whose data is in dir (created by the suite,
// empty the first time), or reopens it after Close or a crash.
type Opener func(dir string) (Log, error)

// Run runs the whole suite against the backend open opens.
func Run(t *testing.T, open Opener) {
	t.Run("ContiguousSeqsOneChat", func(t *testing.T) { testContiguous(t, open, 1, 16, 40) })
	t.Run("ContiguousSeqsManyChats", func(t *testing.T) { testContiguous(t, open, 12, 4, 30) })
	t.Run("RecordChangesWithEvents", func(t *testing.T) { testRecord(t, open) })
	t.Run("IdempotentStart", func(t *testing.T) { testStart(t, open) })
	t.Run("IdempotentRetryAcrossRestart", func(t *testing.T) { testRetry(t, open) })
	t.Run("ReadsDuringWrites", func(t *testing.T) { testReads(t, open) })
	t.Run("Pages", func(t *testing.T) { testPages(t, open) })
	t.Run("Kill9", func(t *testing.T) { testKill9(t, open) })
}

func mustOpen(t *testing.T, open Opener, dir string) Log {
	t.Helper()
	l, err := open(dir)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

func closeLog(t *testing.T, l Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func newChat(id string) model.NewChat {
	return model.NewChat{
		Chat: model.Chat{ID: id, Deployment: "conformance", Mode: "live", State: model.StateQueued,
			IdentityID: "idn-" + id, CreatedAt: 1_700_000_000_000},
		Events: []model.Event{{Type: model.EventParticipantJoined, From: model.Party{ID: "v-" + id, Type: model.PartyClient},
			Time: 1_700_000_000_000}},
	}
}

func message(text string) model.Event {
	return model.Event{Type: model.EventMessage, From: model.Party{ID: "v", Type: model.PartyClient}, Text: text, Time: 1_700_000_000_001}
}

func appendFn(evs ...model.Event) model.MutateFunc {
	return func(*model.Chat) ([]model.Event, error) { return evs, nil }
}

func mustCreate(t *testing.T, l Log, id string) model.Chat {
	t.Helper()
	c, existing, err := l.CreateChat(context.Background(), newChat(id))
	if err != nil || existing {
		t.Fatalf("create %s: existing %v, err %v", id, existing, err)
	}
	return c
}

// allEvents reads every event of a chat, page by page.
func allEvents(t *testing.T, l Log, chatID string) []model.Event {
	t.Helper()
	var out []model.Event
	var after uint64
	for {
		page, err := l.EventsAfter(context.Background(), chatID, after, 100)
		if err != nil {
			t.Fatalf("events of %s after %d: %v", chatID, after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// checkContiguous fails unless evs have seqs 1..len(evs) in order.
func checkContiguous(t *testing.T, chatID string, evs []model.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("%s: event %d has seq %d, want %d: seqs are not contiguous from 1", chatID, i, ev.Seq, i+1)
		}
	}
}

// testContiguous appends from writers goroutines per chat, each appending
// n single events with a request id, and checks that every chat's seqs are
// 1..N with no gap or repeat, that each acknowledged append holds the seq it
// was answered with, and that the record's LastSeq is the newest seq.
func testContiguous(t *testing.T, open Opener, chats, writers, n int) {
	ctx := context.Background()
	l := mustOpen(t, open, t.TempDir())
	defer closeLog(t, l)
	for c := range chats {
		mustCreate(t, l, fmt.Sprint("chat-", c))
	}
	type ack struct {
		seq  uint64
		text string
	}
	var mu sync.Mutex
	acks := map[string][]ack{}
	var wg sync.WaitGroup
	errs := make(chan error, chats*writers)
	for c := range chats {
		id := fmt.Sprint("chat-", c)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					text := fmt.Sprintf("w%d-%d", w, i)
					_, evs, replayed, err := l.Mutate(ctx, id, "rq-"+text, appendFn(message(text)))
					if err != nil || replayed || len(evs) != 1 {
						errs <- fmt.Errorf("append %s to %s: %d events, replayed %v, err %v", text, id, len(evs), replayed, err)
						return
					}
					mu.Lock()
					acks[id] = append(acks[id], ack{evs[0].Seq, text})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for c := range chats {
		id := fmt.Sprint("chat-", c)
		evs := allEvents(t, l, id)
		if want := 1 + writers*n; len(evs) != want {
			t.Fatalf("%s holds %d events, want %d", id, len(evs), want)
		}
		checkContiguous(t, id, evs)
		for _, a := range acks[id] {
			if got := evs[a.seq-1]; got.Text != a.text || got.RequestID != "rq-"+a.text {
				t.Fatalf("%s seq %d holds %q (request %q), but %q was acknowledged with it", id, a.seq, got.Text, got.RequestID, a.text)
			}
		}
		rec, err := l.Chat(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.LastSeq != uint64(len(evs)) {
			t.Fatalf("%s: record's LastSeq %d, newest event %d", id, rec.LastSeq, len(evs))
		}
	}
}

// testRecord: the record's change and the events commit together; a
// refused change writes neither; the log owns ID and LastSeq.
func testRecord(t *testing.T, open Opener) {
	ctx := context.Background()
	l := mustOpen(t, open, t.TempDir())
	defer closeLog(t, l)
	mustCreate(t, l, "c1")
	c, evs, _, err := l.Mutate(ctx, "c1", "", func(c *model.Chat) ([]model.Event, error) {
		c.State = model.StateActive
		c.Subject = "changed"
		c.ID, c.LastSeq = "other", 999 // ignored: the log's
		return []model.Event{message("a"), message("b")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c1" || c.LastSeq != 3 || len(evs) != 2 || evs[0].Seq != 2 || evs[1].Seq != 3 {
		t.Fatalf("mutate answered %s LastSeq %d with %d events; want c1, 3, seqs 2 and 3", c.ID, c.LastSeq, len(evs))
	}
	rec, err := l.Chat(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != model.StateActive || rec.Subject != "changed" || rec.LastSeq != 3 {
		t.Fatalf("record = state %q subject %q LastSeq %d; want active, changed, 3", rec.State, rec.Subject, rec.LastSeq)
	}
	refused := errors.New("refused")
	_, _, _, err = l.Mutate(ctx, "c1", "rq-refused", func(c *model.Chat) ([]model.Event, error) {
		c.Subject = "must not stay"
		return []model.Event{message("lost")}, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("refused mutation: err %v, want the function's error", err)
	}
	if rec, _ := l.Chat(ctx, "c1"); rec.Subject != "changed" || rec.LastSeq != 3 {
		t.Fatalf("a refused mutation changed the record: subject %q, LastSeq %d", rec.Subject, rec.LastSeq)
	}
	if evs := allEvents(t, l, "c1"); len(evs) != 3 {
		t.Fatalf("a refused mutation appended: %d events", len(evs))
	}
	// The request id of a refused mutation is not spent.
	if _, evs, replayed, err := l.Mutate(ctx, "c1", "rq-refused", appendFn(message("now"))); err != nil || replayed || len(evs) != 1 {
		t.Fatalf("retry of a refused request: %d events, replayed %v, err %v", len(evs), replayed, err)
	}
	if _, _, _, err := l.Mutate(ctx, "nope", "", appendFn(message("x"))); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("mutate of an unknown chat: %v, want ErrNotFound", err)
	}
	if _, err := l.EventsAfter(ctx, "nope", 0, 10); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("events of an unknown chat: %v, want ErrNotFound", err)
	}
}

// testStart: a start key makes CreateChat idempotent per deployment, also
// after a restart; a taken chat id is ErrExists.
func testStart(t *testing.T, open Opener) {
	ctx := context.Background()
	dir := t.TempDir()
	l := mustOpen(t, open, dir)
	n := newChat("s1")
	n.StartKey = "start-1"
	if _, existing, err := l.CreateChat(ctx, n); err != nil || existing {
		t.Fatalf("first start: existing %v, err %v", existing, err)
	}
	if _, _, err := l.CreateChat(ctx, newChat("s1")); !errors.Is(err, model.ErrExists) {
		t.Fatalf("second chat with a taken id: %v, want ErrExists", err)
	}
	closeLog(t, l)
	l = mustOpen(t, open, dir)
	defer closeLog(t, l)
	retry := newChat("s1-retry")
	retry.StartKey = "start-1"
	c, existing, err := l.CreateChat(ctx, retry)
	if err != nil || !existing || c.ID != "s1" {
		t.Fatalf("retried start after restart: chat %s, existing %v, err %v; want s1, true", c.ID, existing, err)
	}
	if _, err := l.Chat(ctx, "s1-retry"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("the retry stored a chat: %v", err)
	}
	other := newChat("s2")
	other.StartKey = "start-1"
	other.Chat.Deployment = "elsewhere"
	if _, existing, err := l.CreateChat(ctx, other); err != nil || existing {
		t.Fatalf("same start key on another deployment: existing %v, err %v; want a new chat", existing, err)
	}
}

// testRetry: a retried request is answered with the first attempt's events
// and writes nothing, before and after a restart.
func testRetry(t *testing.T, open Opener) {
	ctx := context.Background()
	dir := t.TempDir()
	l := mustOpen(t, open, dir)
	mustCreate(t, l, "r1")
	_, first, replayed, err := l.Mutate(ctx, "r1", "rq-1", appendFn(message("a"), message("b")))
	if err != nil || replayed {
		t.Fatalf("first attempt: replayed %v, err %v", replayed, err)
	}
	check := func(when string) {
		t.Helper()
		_, again, replayed, err := l.Mutate(ctx, "r1", "rq-1", appendFn(message("a"), message("b")))
		if err != nil || !replayed {
			t.Fatalf("retry %s: replayed %v, err %v", when, replayed, err)
		}
		if len(again) != len(first) || again[0].Seq != first[0].Seq || again[1].Seq != first[1].Seq || again[1].Text != "b" {
			t.Fatalf("retry %s answered %+v, want the first attempt's %+v", when, again, first)
		}
		if evs := allEvents(t, l, "r1"); len(evs) != 3 {
			t.Fatalf("retry %s wrote: %d events, want 3", when, len(evs))
		}
	}
	check("at once")
	if _, _, _, err := l.Mutate(ctx, "r1", "rq-2", appendFn(message("c"))); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	l = mustOpen(t, open, dir)
	defer closeLog(t, l)
	_, again, replayed, err := l.Mutate(ctx, "r1", "rq-2", appendFn(message("c")))
	if err != nil || !replayed || len(again) != 1 || again[0].Seq != 4 {
		t.Fatalf("retry after restart: %+v, replayed %v, err %v; want seq 4 replayed", again, replayed, err)
	}
	if evs := allEvents(t, l, "r1"); len(evs) != 4 {
		t.Fatalf("retry after restart wrote: %d events, want 4", len(evs))
	}
}

// testReads: readers running beside writers always see a prefix of the
// log: contiguous seqs from 1, never an event beyond the record's LastSeq
// read after it, never fewer than a LastSeq read before.
func testReads(t *testing.T, open Opener) {
	// stop ends the readers once the writers are done; their reads run
	// on ctx, never cancelled: a backend that honours a cancelled context
	// in the middle of a read is right to fail it.
	ctx := context.Background()
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	l := mustOpen(t, open, t.TempDir())
	defer closeLog(t, l)
	mustCreate(t, l, "rw")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				if _, _, _, err := l.Mutate(context.Background(), "rw", "", appendFn(message(fmt.Sprint(w, "-", i)))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	readers := sync.WaitGroup{}
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for stop.Err() == nil {
				before, err := l.Chat(ctx, "rw")
				if err != nil {
					errs <- err
					return
				}
				evs, err := l.EventsAfter(ctx, "rw", 0, 1000)
				if err != nil {
					errs <- err
					return
				}
				after, err := l.Chat(ctx, "rw")
				if err != nil {
					errs <- err
					return
				}
				for i, ev := range evs {
					if ev.Seq != uint64(i+1) {
						errs <- fmt.Errorf("a read saw seq %d at position %d", ev.Seq, i)
						return
					}
				}
				if n := uint64(len(evs)); n < before.LastSeq || n > after.LastSeq {
					errs <- fmt.Errorf("a read saw %d events between records with LastSeq %d and %d", n, before.LastSeq, after.LastSeq)
					return
				}
				tail, err := l.EventsBefore(ctx, "rw", 0, 5)
				if err != nil {
					errs <- err
					return
				}
				for i := 1; i < len(tail); i++ {
					if tail[i].Seq != tail[i-1].Seq+1 {
						errs <- fmt.Errorf("the newest events read %d then %d", tail[i-1].Seq, tail[i].Seq)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkContiguous(t, "rw", allEvents(t, l, "rw"))
}

// testPages: EventsAfter and EventsBefore page through a long chat in both
// directions, oldest first within a page.
func testPages(t *testing.T, open Opener) {
	ctx := context.Background()
	l := mustOpen(t, open, t.TempDir())
	defer closeLog(t, l)
	mustCreate(t, l, "p1")
	var batch []model.Event
	for i := range 249 {
		batch = append(batch, message(fmt.Sprint(i)))
	}
	if _, _, _, err := l.Mutate(ctx, "p1", "", appendFn(batch...)); err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	for before := uint64(0); ; {
		page, err := l.EventsBefore(ctx, "p1", before, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for i := 1; i < len(page); i++ {
			if page[i].Seq != page[i-1].Seq+1 {
				t.Fatalf("page before %d is not oldest first and contiguous: %d then %d", before, page[i-1].Seq, page[i].Seq)
			}
		}
		seen = append(page2seqs(page), seen...)
		before = page[0].Seq
	}
	if len(seen) != 250 || seen[0] != 1 || seen[249] != 250 {
		t.Fatalf("pages before covered %d events (%v…), want 1..250", len(seen), seen[:min(3, len(seen))])
	}
	page, err := l.EventsAfter(ctx, "p1", 240, 100)
	if err != nil || len(page) != 10 || page[0].Seq != 241 {
		t.Fatalf("page after 240: %d events from %v, err %v; want 241..250", len(page), page2seqs(page), err)
	}
	if page, err := l.EventsAfter(ctx, "p1", 250, 100); err != nil || len(page) != 0 {
		t.Fatalf("page after the newest: %d events, err %v", len(page), err)
	}
}

func page2seqs(evs []model.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// childEnv names the directory a child process appends to.
const childEnv = "CXGATE_LOGTEST_CHILD"

const (
	killChats   = 8
	killWriters = 4 // per chat
)

// RunChild, called first thing in a backend's TestMain, makes the test
// binary the kill test's child when it was started as one: it opens the
// backend in the directory it was given, appends from many goroutines, and
// prints every acknowledged append ("ack <chat> <seq> <request id>") until
// it is killed. Otherwise it returns at once.
func RunChild(open Opener) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return
	}
	l, err := open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	for c := range killChats {
		if _, _, err := l.CreateChat(ctx, newChat(fmt.Sprint("k", c))); err != nil {
			fmt.Fprintln(os.Stderr, "child: create:", err)
			os.Exit(3)
		}
	}
	fmt.Println("ready")
	for c := range killChats {
		for w := range killWriters {
			go func() {
				for i := 0; ; i++ {
					id, rq := fmt.Sprint("k", c), fmt.Sprintf("rq-%d-%d", w, i)
					_, evs, _, err := l.Mutate(ctx, id, rq, appendFn(message(rq)))
					if err != nil {
						fmt.Fprintln(os.Stderr, "child: append:", err)
						os.Exit(3)
					}
					mu.Lock()
					fmt.Fprintf(out, "ack %s %d %s\n", id, evs[0].Seq, rq)
					out.Flush() // acknowledged means told: the parent reads it before the kill
					mu.Unlock()
				}
			}()
		}
	}
	select {}
}

// testKill9 starts the test binary as a child appending to the backend,
// kills it with SIGKILL once it acknowledged enough appends, reopens the
// backend and checks that every acknowledged append is there with the seq
// it was answered with, that the seqs have no gap, and that the newest
// acknowledged request of each chat is recognized as a retry.
func testKill9(t *testing.T, open Opener) {
	if os.Getenv(childEnv) != "" {
		t.Skip("inside the child")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		seq uint64
		rq  string
	}
	acks := map[string][]ack{}
	total := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && total < 2000 {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue
		}
		seq, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		acks[f[1]] = append(acks[f[1]], ack{seq, f[3]})
		total++
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if total < 2000 {
		t.Fatalf("the child acknowledged %d appends before it stopped; stderr: %s", total, stderr.String())
	}
	l := mustOpen(t, open, dir)
	defer closeLog(t, l)
	for c := range killChats {
		id := fmt.Sprint("k", c)
		evs := allEvents(t, l, id)
		checkContiguous(t, id, evs)
		rec, err := l.Chat(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.LastSeq != uint64(len(evs)) {
			t.Fatalf("%s: LastSeq %d after the reopen, %d events", id, rec.LastSeq, len(evs))
		}
		for _, a := range acks[id] {
			if a.seq > uint64(len(evs)) {
				t.Fatalf("%s: seq %d was acknowledged, but the log ends at %d after kill -9", id, a.seq, len(evs))
			}
			if got := evs[a.seq-1]; got.RequestID != a.rq {
				t.Fatalf("%s: seq %d holds request %q, %q was acknowledged with it", id, a.seq, got.RequestID, a.rq)
			}
		}
		// The newest request written (acknowledged or not: the child went
		// on until the kill) is a retry after the reopen.
		last := evs[len(evs)-1]
		if last.RequestID == "" {
			continue
		}
		_, again, replayed, err := l.Mutate(context.Background(), id, last.RequestID, appendFn(message(last.RequestID)))
		if err != nil || !replayed || len(again) != 1 || again[0].Seq != last.Seq {
			t.Fatalf("%s: retry of %s after kill -9: %v, replayed %v, err %v; want seq %d replayed", id, last.RequestID, page2seqs(again), replayed, err, last.Seq)
		}
	}
}
