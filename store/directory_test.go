package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// dirString renders a directory as "kind:id=value ..." in a stable order.
func dirString(d store.Directory) string {
	var parts []string
	for _, kind := range store.DirectoryKinds {
		for _, e := range d[kind] {
			parts = append(parts, fmt.Sprintf("%s:%s=%s", kind, e.ID, e.Value))
		}
	}
	return strings.Join(parts, " ")
}

func mustDirectory(t testing.TB, s *store.Store) store.Directory {
	t.Helper()
	d, err := s.Directory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDirectory_Seed(t *testing.T) {
	ctx := context.Background()
	s, path := newTestStore(t, store.Options{})
	d := mustDirectory(t, s)
	if !d.Empty() {
		t.Fatalf("new store's directory = %s, want empty", dirString(d))
	}
	for _, kind := range store.DirectoryKinds {
		if d[kind] == nil {
			t.Errorf("Directory()[%s] = nil, want an empty list", kind)
		}
	}

	seed := store.Directory{
		store.DirDeployments: {{ID: "shop", Value: []byte(`{"key":"shop"}`)}, {ID: "demo", Value: []byte(`{"key":"demo"}`)}},
		store.DirQueues:      {{ID: "support", Value: []byte(`{"name":"support"}`)}},
		store.DirAgents:      {{ID: "ann", Value: []byte(`{"id":"ann"}`)}},
	}
	seeded, err := s.SeedDirectory(ctx, seed)
	if err != nil || !seeded {
		t.Fatalf("SeedDirectory(empty store) = %v, %v; want true, nil", seeded, err)
	}
	want := `deployments:demo={"key":"demo"} deployments:shop={"key":"shop"} queues:support={"name":"support"} agents:ann={"id":"ann"}`
	if got := dirString(mustDirectory(t, s)); got != want {
		t.Errorf("after seeding:\n got %s\nwant %s (ordered by id)", got, want)
	}

	// A directory with entries is never seeded again, even with only one
	// kind left.
	for _, kind := range []store.DirectoryKind{store.DirDeployments, store.DirQueues, store.DirAgents} {
		for _, e := range mustDirectory(t, s)[kind] {
			if kind == store.DirAgents {
				continue
			}
			if err := s.DeleteEntry(ctx, kind, e.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	seeded, err = s.SeedDirectory(ctx, seed)
	if err != nil || seeded {
		t.Fatalf("SeedDirectory(store with an agent) = %v, %v; want false, nil", seeded, err)
	}
	if got, want := dirString(mustDirectory(t, s)), `agents:ann={"id":"ann"}`; got != want {
		t.Errorf("after a refused seed: %s, want %s", got, want)
	}

	// Bad seeds write nothing.
	if err := s.DeleteEntry(ctx, store.DirAgents, "ann"); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]store.Directory{
		"UnknownKind": {store.DirQueues: {{ID: "q", Value: []byte(`{}`)}}, "tokens": {{ID: "x", Value: []byte(`{}`)}}},
		"NoID":        {store.DirQueues: {{ID: "q", Value: []byte(`{}`)}, {Value: []byte(`{}`)}}},
	} {
		if seeded, err := s.SeedDirectory(ctx, bad); err == nil || seeded {
			t.Errorf("SeedDirectory(%s) = %v, %v; want an error", name, seeded, err)
		} else if name == "UnknownKind" && !errors.Is(err, store.ErrUnknownKind) {
			t.Errorf("SeedDirectory(%s) = %v, want ErrUnknownKind", name, err)
		}
	}
	if d := mustDirectory(t, s); !d.Empty() {
		t.Errorf("bad seeds wrote %s", dirString(d))
	}

	// Seeding persists.
	if _, err := s.SeedDirectory(ctx, seed); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, path, store.Options{})
	if got, want := dirString(mustDirectory(t, s)), want; got != want {
		t.Errorf("after reopening:\n got %s\nwant %s", got, want)
	}
}

func TestDirectory_PutDelete(t *testing.T) {
	ctx := context.Background()
	s, path := newTestStore(t, store.Options{})
	for _, kind := range store.DirectoryKinds {
		for _, id := range []string{"b", "a"} {
			if err := s.PutEntry(ctx, kind, id, []byte(`"`+string(kind)+"-"+id+`"`)); err != nil {
				t.Fatalf("PutEntry(%s, %s): %v", kind, id, err)
			}
		}
	}
	if err := s.PutEntry(ctx, store.DirAgents, "a", []byte(`"replaced"`)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEntry(ctx, store.DirWebhooks, "b"); err != nil {
		t.Fatal(err)
	}
	want := `deployments:a="deployments-a" deployments:b="deployments-b" queues:a="queues-a" queues:b="queues-b" ` +
		`agents:a="replaced" agents:b="agents-b" webhooks:a="webhooks-a"`
	if got := dirString(mustDirectory(t, s)); got != want {
		t.Errorf("directory:\n got %s\nwant %s", got, want)
	}

	if err := s.DeleteEntry(ctx, store.DirWebhooks, "b"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteEntry(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteEntry(ctx, store.DirQueues, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteEntry(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.PutEntry(ctx, "tokens", "x", []byte(`{}`)); !errors.Is(err, store.ErrUnknownKind) {
		t.Errorf("PutEntry(tokens) = %v, want ErrUnknownKind", err)
	}
	if err := s.DeleteEntry(ctx, "chats", "x"); !errors.Is(err, store.ErrUnknownKind) {
		t.Errorf("DeleteEntry(chats) = %v, want ErrUnknownKind", err)
	}
	if err := s.PutEntry(ctx, store.DirQueues, "", []byte(`{}`)); err == nil {
		t.Error("PutEntry without id accepted")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEntry(ctx, store.DirQueues, "c", []byte(`{}`)); !errors.Is(err, model.ErrClosed) {
		t.Errorf("PutEntry after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Directory(ctx); !errors.Is(err, model.ErrClosed) {
		t.Errorf("Directory after Close = %v, want ErrClosed", err)
	}
	s = openTestStore(t, path, store.Options{})
	if got := dirString(mustDirectory(t, s)); got != want {
		t.Errorf("after reopening:\n got %s\nwant %s", got, want)
	}
}

// TestDirectory_ConcurrentWrites puts entries from many goroutines: each
// write is its own op in the writer's batches, and all of them land.
func TestDirectory_ConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, store.Options{})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			id := fmt.Sprintf("a%02d", i)
			if err := s.PutEntry(ctx, store.DirAgents, id, []byte(`{}`)); err != nil {
				t.Error(err)
			}
			if i%2 == 0 {
				if err := s.DeleteEntry(ctx, store.DirAgents, id); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	agents := mustDirectory(t, s)[store.DirAgents]
	if len(agents) != 32 {
		t.Fatalf("%d agents, want 32", len(agents))
	}
	for i, e := range agents {
		if want := fmt.Sprintf("a%02d", 2*i+1); e.ID != want {
			t.Errorf("agents[%d] = %s, want %s", i, e.ID, want)
		}
	}
}
