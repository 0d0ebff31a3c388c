package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/model"
)

// dirString renders a directory as "kind:id=value ..." in a stable order.
func dirString(d model.Directory) string {
	var parts []string
	for _, kind := range model.DirectoryKinds {
		for _, e := range d[kind] {
			parts = append(parts, fmt.Sprintf("%s:%s=%s", kind, e.ID, e.Value))
		}
	}
	return strings.Join(parts, " ")
}

func mustDirectory(t testing.TB, s Store) model.Directory {
	t.Helper()
	d, err := s.Directory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testDirectorySeed(t *testing.T, b Backend) {
	ctx := context.Background()
	s, dir := open(t, b)
	d := mustDirectory(t, s)
	if !d.Empty() {
		t.Fatalf("new store's directory = %s, want empty", dirString(d))
	}
	for _, kind := range model.DirectoryKinds {
		if d[kind] == nil {
			t.Errorf("Directory()[%s] = nil, want an empty list", kind)
		}
	}
	seed := model.Directory{
		model.DirDeployments: {{ID: "shop", Value: []byte(`{"key":"shop"}`)}, {ID: "demo", Value: []byte(`{"key":"demo"}`)}},
		model.DirQueues:      {{ID: "support", Value: []byte(`{"name":"support"}`)}},
		model.DirAgents:      {{ID: "ann", Value: []byte(`{"id":"ann"}`)}},
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
	for _, kind := range []model.DirectoryKind{model.DirDeployments, model.DirQueues} {
		for _, e := range mustDirectory(t, s)[kind] {
			if err := s.DeleteEntry(ctx, kind, e.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if seeded, err = s.SeedDirectory(ctx, seed); err != nil || seeded {
		t.Fatalf("SeedDirectory(store with an agent) = %v, %v; want false, nil", seeded, err)
	}
	if got, want := dirString(mustDirectory(t, s)), `agents:ann={"id":"ann"}`; got != want {
		t.Errorf("after a refused seed: %s, want %s", got, want)
	}
	// Bad seeds write nothing.
	if err := s.DeleteEntry(ctx, model.DirAgents, "ann"); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]model.Directory{
		"UnknownKind": {model.DirQueues: {{ID: "q", Value: []byte(`{}`)}}, "tokens": {{ID: "x", Value: []byte(`{}`)}}},
		"NoID":        {model.DirQueues: {{ID: "q", Value: []byte(`{}`)}, {Value: []byte(`{}`)}}},
	} {
		if seeded, err := s.SeedDirectory(ctx, bad); err == nil || seeded {
			t.Errorf("SeedDirectory(%s) = %v, %v; want an error", name, seeded, err)
		} else if name == "UnknownKind" && !errors.Is(err, b.ErrUnknownKind) {
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
	if got := dirString(mustDirectory(t, reopen(t, b, dir))); got != want {
		t.Errorf("after reopening:\n got %s\nwant %s", got, want)
	}
}

func testDirectoryPutDelete(t *testing.T, b Backend) {
	ctx := context.Background()
	s, dir := open(t, b)
	for _, kind := range model.DirectoryKinds {
		for _, id := range []string{"b", "a"} {
			if err := s.PutEntry(ctx, kind, id, []byte(`"`+string(kind)+"-"+id+`"`)); err != nil {
				t.Fatalf("PutEntry(%s, %s): %v", kind, id, err)
			}
		}
	}
	if err := s.PutEntry(ctx, model.DirAgents, "a", []byte(`"replaced"`)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEntry(ctx, model.DirWebhooks, "b"); err != nil {
		t.Fatal(err)
	}
	want := `deployments:a="deployments-a" deployments:b="deployments-b" queues:a="queues-a" queues:b="queues-b" ` +
		`agents:a="replaced" agents:b="agents-b" webhooks:a="webhooks-a"`
	if got := dirString(mustDirectory(t, s)); got != want {
		t.Errorf("directory:\n got %s\nwant %s", got, want)
	}
	if err := s.DeleteEntry(ctx, model.DirWebhooks, "b"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteEntry(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteEntry(ctx, model.DirQueues, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteEntry(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.PutEntry(ctx, "tokens", "x", []byte(`{}`)); !errors.Is(err, b.ErrUnknownKind) {
		t.Errorf("PutEntry(tokens) = %v, want ErrUnknownKind", err)
	}
	if err := s.DeleteEntry(ctx, "chats", "x"); !errors.Is(err, b.ErrUnknownKind) {
		t.Errorf("DeleteEntry(chats) = %v, want ErrUnknownKind", err)
	}
	if err := s.PutEntry(ctx, model.DirQueues, "", []byte(`{}`)); err == nil {
		t.Error("PutEntry without id accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEntry(ctx, model.DirQueues, "c", []byte(`{}`)); !errors.Is(err, model.ErrClosed) {
		t.Errorf("PutEntry after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Directory(ctx); !errors.Is(err, model.ErrClosed) {
		t.Errorf("Directory after Close = %v, want ErrClosed", err)
	}
	if got := dirString(mustDirectory(t, reopen(t, b, dir))); got != want {
		t.Errorf("after reopening:\n got %s\nwant %s", got, want)
	}
}

func testDirectoryReplace(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	for _, id := range []string{"x", "y"} {
		for _, kind := range []model.DirectoryKind{model.DirQueues, model.DirAgents} {
			if err := s.PutEntry(ctx, kind, id, []byte(`1`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Kinds d names are replaced whole, others are kept; an empty list
	// empties its kind.
	err := s.ReplaceDirectory(ctx, model.Directory{
		model.DirQueues:   {{ID: "z", Value: []byte(`2`)}, {ID: "x", Value: []byte(`3`)}},
		model.DirWebhooks: {},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dirString(mustDirectory(t, s)), `queues:x=3 queues:z=2 agents:x=1 agents:y=1`; got != want {
		t.Errorf("after replace: %s, want %s", got, want)
	}
	for name, bad := range map[string]model.Directory{
		"UnknownKind": {model.DirQueues: {}, "files": {}},
		"NoID":        {model.DirAgents: {{Value: []byte(`{}`)}}},
	} {
		if err := s.ReplaceDirectory(ctx, bad); err == nil {
			t.Errorf("ReplaceDirectory(%s) accepted", name)
		}
	}
	if got, want := dirString(mustDirectory(t, s)), `queues:x=3 queues:z=2 agents:x=1 agents:y=1`; got != want {
		t.Errorf("refused replacements wrote: %s", got)
	}
}

// testDirectoryConcurrentWrites puts entries from many goroutines: all of
// them land.
func testDirectoryConcurrentWrites(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			id := fmt.Sprintf("a%02d", i)
			if err := s.PutEntry(ctx, model.DirAgents, id, []byte(`{}`)); err != nil {
				t.Error(err)
			}
			if i%2 == 0 {
				if err := s.DeleteEntry(ctx, model.DirAgents, id); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	agents := mustDirectory(t, s)[model.DirAgents]
	if len(agents) != 32 {
		t.Fatalf("%d agents, want 32", len(agents))
	}
	for i, e := range agents {
		if want := fmt.Sprintf("a%02d", 2*i+1); e.ID != want {
			t.Errorf("agents[%d] = %s, want %s", i, e.ID, want)
		}
	}
}
