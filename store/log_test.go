package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// TestMutate_RequestIDAcrossReopen: a retry is recognized after a restart
// (the writer's memory of request ids is rebuilt from the events' ids), and
// only among the chat's newest 64 events.
func TestMutate_RequestIDAcrossReopen(t *testing.T) {
	s, path := newTestStore(t, store.Options{})
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	mustAppend(t, s, "c1", "before")
	_, first, _, err := s.Mutate(ctx, "c1", "rq-1", appendFn(message("a"), message("b")))
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "c1", "after")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, path, store.Options{})
	_, again, replayed, err := s.Mutate(ctx, "c1", "rq-1", appendFn(message("dup")))
	if err != nil {
		t.Fatal(err)
	}
	if !replayed || !slices.EqualFunc(again, first, eventsEqual) {
		t.Fatalf("retry after reopen = %+v, replayed %v; want %+v, true", again, replayed, first)
	}
	_, fresh, replayed, err := s.Mutate(ctx, "c1", "rq-2", appendFn(message("c")))
	if err != nil || replayed || !slices.Equal(seqs(fresh), []uint64{5}) {
		t.Fatalf("new request = seqs %v, replayed %v, err %v; want [5], false, nil", seqs(fresh), replayed, err)
	}

	// 64 events later rq-2 has left the window: the same id is a new request.
	for i := range 64 {
		mustAppend(t, s, "c1", fmt.Sprint("filler ", i))
	}
	_, late, replayed, err := s.Mutate(ctx, "c1", "rq-2", appendFn(message("c again")))
	if err != nil || replayed || !slices.Equal(seqs(late), []uint64{70}) {
		t.Fatalf("rq-2 after 64 events = seqs %v, replayed %v, err %v; want [70], false, nil", seqs(late), replayed, err)
	}
}

// TestLog_ChatsWithSharedPrefix: chat ids that extend one another keep
// their events apart, in every read.
func TestLog_ChatsWithSharedPrefix(t *testing.T) {
	s, _ := newTestStore(t, store.Options{})
	ctx := context.Background()
	for _, id := range []string{"c1", "c10", "c"} {
		mustCreateChat(t, s, id)
	}
	mustAppend(t, s, "c10", "x1", "x2", "x3")
	mustAppend(t, s, "c1", "a1", "a2")
	mustAppend(t, s, "c", "z1")

	if c := mustChat(t, s, "c1"); c.LastSeq != 2 {
		t.Errorf("c1 LastSeq = %d, want 2", c.LastSeq)
	}
	if got := texts(mustEventsAfter(t, s, "c1", 0, 100)); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("c1 after 0 = %v", got)
	}
	for _, tc := range []struct {
		chat   string
		before uint64
		want   []string
	}{
		{"c1", 0, []string{"a1", "a2"}},
		{"c1", 2, []string{"a1"}},
		{"c1", 99, []string{"a1", "a2"}},
		{"c10", 0, []string{"x1", "x2", "x3"}},
		{"c", 0, []string{"z1"}},
		{"c", 1, nil},
	} {
		evs, err := s.EventsBefore(ctx, tc.chat, tc.before, 100)
		if err != nil {
			t.Fatal(err)
		}
		if got := texts(evs); !slices.Equal(got, tc.want) {
			t.Errorf("%s before %d = %v, want %v", tc.chat, tc.before, got, tc.want)
		}
	}
	if _, err := s.EventsAfter(ctx, "c2", 0, 10); err == nil {
		t.Error("events of an unknown chat: no error")
	}
	if _, _, err := s.CreateChat(ctx, model.NewChat{Chat: testChat("bad\x00id", "dep")}); err == nil {
		t.Error("a chat id with a zero byte was accepted")
	}
}

func texts(evs []model.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Text)
	}
	return out
}

// TestOpen_FlattensEvents: a schema-2 file, with one bucket of events per
// chat and a requests bucket, opens as one log with every event at its seq;
// a retry of a request made before the migration is still recognized.
func TestOpen_FlattensEvents(t *testing.T) {
	s, path := newTestStore(t, store.Options{})
	ctx := context.Background()
	mustCreateChat(t, s, "c1")
	mustCreateChat(t, s, "c10")
	mustAppend(t, s, "c1", "a1", "a2")
	_, first, _, err := s.Mutate(ctx, "c1", "rq-old", appendFn(message("a3")))
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "c10", "x1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Rewrite the file as schema 2 laid it out.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		events, err := tx.CreateBucket([]byte("events"))
		if err != nil {
			return err
		}
		requests, err := tx.CreateBucket([]byte("requests"))
		if err != nil {
			return err
		}
		for _, id := range []string{"c1", "c10"} {
			b, err := events.CreateBucket([]byte(id))
			if err != nil {
				return err
			}
			prefix := append([]byte(id), 0)
			c := tx.Bucket([]byte("log")).Cursor()
			var last uint64
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
				if err := b.Put(bytes.Clone(k[len(prefix):]), bytes.Clone(v)); err != nil {
					return err
				}
				last = binary.BigEndian.Uint64(k[len(prefix):])
			}
			if err := b.SetSequence(last); err != nil {
				return err
			}
		}
		if err := requests.Put([]byte("c1\x00rq-old"), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, 3), 1)); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("log")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, path, store.Options{})
	if got := texts(mustEventsAfter(t, s, "c1", 0, 100)); !slices.Equal(got, []string{"a1", "a2", "a3"}) {
		t.Errorf("c1 after migration = %v", got)
	}
	if got := texts(mustEventsAfter(t, s, "c10", 0, 100)); !slices.Equal(got, []string{"x1"}) {
		t.Errorf("c10 after migration = %v", got)
	}
	if c := mustChat(t, s, "c1"); c.LastSeq != 3 {
		t.Errorf("c1 LastSeq after migration = %d, want 3", c.LastSeq)
	}
	_, again, replayed, err := s.Mutate(ctx, "c1", "rq-old", appendFn(message("dup")))
	if err != nil || !replayed || !slices.EqualFunc(again, first, eventsEqual) {
		t.Fatalf("retry of a request from before the migration = %+v, replayed %v, err %v", again, replayed, err)
	}
	_, next, _, err := s.Mutate(ctx, "c1", "", appendFn(message("a4")))
	if err != nil || !slices.Equal(seqs(next), []uint64{4}) {
		t.Fatalf("append after migration = seqs %v, err %v; want [4]", seqs(next), err)
	}
	err = s.Check()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"events", "requests"} {
			if tx.Bucket([]byte(name)) != nil {
				t.Errorf("bucket %s is still there after the migration", name)
			}
		}
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema")); binary.BigEndian.Uint64(v) != 3 {
			t.Errorf("schema after migration = %d, want 3", binary.BigEndian.Uint64(v))
		}
		return nil
	})
}
