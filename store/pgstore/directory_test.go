package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store/pgstore"
)

func mustDirectory(t testing.TB, s *pgstore.Store) model.Directory {
	t.Helper()
	d, err := s.Directory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func reopen(t testing.TB, u string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestDirectory_SeedRace: gateways seeding one empty database at once seed
// it once.
func TestDirectory_SeedRace(t *testing.T) {
	s, u := openTest(t)
	stores := []*pgstore.Store{s, reopen(t, u), reopen(t, u), reopen(t, u)}
	var wg sync.WaitGroup
	seeded := make([]bool, len(stores))
	for i, st := range stores {
		wg.Go(func() {
			d := model.Directory{model.DirQueues: {{ID: fmt.Sprint("q", i), Value: []byte(`{}`)}}}
			var err error
			if seeded[i], err = st.SeedDirectory(context.Background(), d); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, ok := range seeded {
		if ok {
			n++
		}
	}
	if qs := mustDirectory(t, s)[model.DirQueues]; n != 1 || len(qs) != 1 {
		t.Fatalf("%d seeds reported, %d queues stored; want 1 and 1", n, len(qs))
	}
}
