package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// DamagedStore writes a store with a few chats and messages, closes it,
// and returns its path and a page that the store's trees reach (the root
// page of the event log), for tests to damage.
func damageableStore(t testing.TB) (path string, page int64, pageSize int) {
	t.Helper()
	s, path := newTestStore(t, store.Options{NoSync: true})
	for i := range 20 {
		id := fmt.Sprintf("c%02d", i)
		mustCreateChat(t, s, id)
		mustAppend(t, s, id, strings.Repeat("a message of some length ", 8), "second", "third")
	}
	// A file larger than a page: the walk must follow overflow pages.
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10)
	_, _, _, err := s.AddFile(context.Background(), "c00", "", model.File{ID: "f1", Name: "big.txt"}, big,
		appendFn(model.Event{Type: model.EventFileUploaded, From: model.Party{ID: "v1", Type: model.PartyClient}, Text: "big.txt"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		page = int64(tx.Bucket([]byte("log")).Root())
		return nil
	})
	if err != nil || page < 2 {
		t.Fatalf("log bucket root page %d (%v): want a page of its own", page, err)
	}
	return path, page, db.Info().PageSize
}

// Damages are the ways a store file was found broken: each leaves a file
// bbolt panics or faults on.
var damages = map[string]func(t testing.TB, path string, page int64, pageSize int){
	"flipped page header": func(t testing.TB, path string, page int64, ps int) {
		patch(t, path, page*int64(ps)+8, []byte{0xff}) // the page's flags
	},
	"64 random bytes": func(t testing.TB, path string, page int64, ps int) {
		junk := make([]byte, 64)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range junk {
			junk[i] = byte(r.UintN(256))
		}
		patch(t, path, page*int64(ps)+16, junk) // over the page's first elements
	},
	"zeroed page": func(t testing.TB, path string, page int64, ps int) {
		patch(t, path, page*int64(ps), make([]byte, ps))
	},
	"truncated file": func(t testing.TB, path string, page int64, ps int) {
		// Cut into the pages in use (bbolt grows the file ahead of them).
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var used int64
		_ = db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
		db.Close()
		if err := os.Truncate(path, used/2/int64(ps)*int64(ps)); err != nil {
			t.Fatal(err)
		}
	},
}

func patch(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestOpen_Damaged: a damaged file is refused with an error that names it
// and says what is wrong, never a panic or a fault; CheckFile and Verify
// say the same; the intact file passes both.
func TestOpen_Damaged(t *testing.T) {
	path, _, _ := damageableStore(t)
	if err := store.CheckFile(path); err != nil {
		t.Fatalf("CheckFile of an intact store: %v", err)
	}
	if err := store.Verify(path, 0); err != nil {
		t.Fatalf("Verify of an intact store: %v", err)
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			path, page, ps := damageableStore(t)
			damage(t, path, page, ps)
			for what, err := range map[string]error{"CheckFile": store.CheckFile(path), "Verify": store.Verify(path, 0)} {
				var de *store.DamagedError
				if !errors.As(err, &de) || !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), path) {
					t.Errorf("%s: %v, want a DamagedError naming %s", what, err, path)
				}
			}
			s, err := store.Open(path, store.Options{NoSync: true})
			if err == nil {
				s.Close()
				t.Fatal("Open of a damaged file succeeded")
			}
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Errorf("Open: %v, want ErrDamaged naming the file", err)
			}
			t.Log(err)
		})
	}
}

// TestBackup_Consistent: a backup taken while writes go on opens as a
// store, passes the check, and holds every write acknowledged before it
// began.
func TestBackup_Consistent(t *testing.T) {
	s, _ := newTestStore(t, store.Options{NoSync: true})
	mustCreateChat(t, s, "c1")
	mustAppend(t, s, "c1", "one", "two", "three")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if _, _, _, err := s.Mutate(context.Background(), "c1", "", appendFn(message(fmt.Sprint("during ", i)))); err != nil {
				t.Errorf("append during backup: %v", err)
				return
			}
		}
	}()
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(f)
	if cerr := f.Close(); err != nil || cerr != nil || n == 0 {
		t.Fatalf("backup: %d bytes, %v, %v", n, err, cerr)
	}
	<-done
	if err := store.Verify(copyPath, 0); err != nil {
		t.Fatalf("the backup fails the check: %v", err)
	}
	b := openTestStore(t, copyPath, store.Options{NoSync: true})
	evs := mustEventsAfter(t, b, "c1", 0, 1000)
	if len(evs) < 3 || evs[0].Text != "one" || evs[2].Text != "three" {
		t.Fatalf("the backup holds %d events of c1, want the 3 acknowledged before it first", len(evs))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("the backup's events have seq %d at %d: a gap", ev.Seq, i)
		}
	}
}

// TestCheckFile_RandomDamage: whatever a few bytes of a store file are
// overwritten with, the walk answers (it never panics), and a file it
// passes opens without bbolt panicking or faulting: Open either works or
// says the file is damaged.
func TestCheckFile_RandomDamage(t *testing.T) {
	path, _, ps := damageableStore(t)
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	damaged, passed := 0, 0
	for i := range 400 {
		b := bytes.Clone(golden)
		// The head of a page past the meta pages (which are checksummed):
		// its header and first elements.
		off := (2+r.IntN(len(b)/ps-2))*ps + r.IntN(128)
		n := 1 + r.IntN(64)
		for j := off; j < min(off+n, len(b)); j++ {
			b[j] = byte(r.UintN(256))
		}
		p := filepath.Join(t.TempDir(), fmt.Sprintf("damaged-%d.db", i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		err := store.CheckFile(p)
		if err != nil && !errors.Is(err, store.ErrDamaged) {
			t.Fatalf("damage at %d: %v", off, err)
		}
		s, oerr := store.Open(p, store.Options{NoSync: true})
		if oerr == nil {
			s.Close()
		} else if !errors.Is(oerr, store.ErrDamaged) {
			t.Errorf("damage at %d: Open: %v", off, oerr)
		}
		if err != nil {
			damaged++
		} else {
			passed++
		}
	}
	t.Logf("%d damaged files refused, %d passed (damage in values or free pages)", damaged, passed)
}
