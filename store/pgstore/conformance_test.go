package pgstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/internal/pgtest"
	"github.com/cxgate/cxgate/store/logtest"
	"github.com/cxgate/cxgate/store/pgstore"
	"github.com/cxgate/cxgate/store/storetest"
)

// urlEnv names the database the tests use. Unset, TestMain starts a
// throwaway server and sets it, so the kill test's child (this binary, run
// again) opens the same database.
const urlEnv = pgtest.EnvURL

// unavailable is why there is no database to test on.
var unavailable error

// schemas are the schemas this process opened, dropped at the end when the
// database is not a throwaway one.
var schemas = struct {
	sync.Mutex
	names map[string]bool
}{names: map[string]bool{}}

func TestMain(m *testing.M) {
	logtest.RunChild(openConformance) // the conformance suite's kill -9 child, when this is one
	external := os.Getenv(urlEnv) != ""
	srv, err := pgtest.Start()
	if err != nil {
		unavailable = err
	} else if !external {
		os.Setenv(urlEnv, srv.URL("postgres"))
	}
	code := m.Run()
	if external {
		dropSchemas()
	}
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

// needDatabase ends the test when there is no database, as pgtest.Need
// says: a skip without PostgreSQL's binaries outside CI, else a failure.
func needDatabase(t testing.TB) {
	t.Helper()
	pgtest.Need(t, unavailable)
}

// openConformance opens the store in a schema of its own for dir: a fresh
// directory is an empty log, the same one reopens it.
func openConformance(dir string) (logtest.Log, error) {
	u, err := schemaURL(dir)
	if err != nil {
		return nil, err
	}
	return pgstore.Open(context.Background(), u)
}

// schemaURL creates the schema that stands for dir, when missing, and
// returns the test database's URL with that schema as its search_path.
func schemaURL(dir string) (string, error) {
	ctx := context.Background()
	base := os.Getenv(urlEnv)
	sum := sha256.Sum256([]byte(dir))
	schema := "logtest_" + hex.EncodeToString(sum[:8])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return "", fmt.Errorf("create schema %s: %w", schema, err)
	}
	schemas.Lock()
	schemas.names[schema] = true
	schemas.Unlock()
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL: %w", urlEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// dropSchemas drops what the tests created in a database that outlives them.
func dropSchemas() {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv(urlEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "drop test schemas:", err)
		return
	}
	defer conn.Close(ctx)
	schemas.Lock()
	defer schemas.Unlock()
	for name := range schemas.names {
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			fmt.Fprintln(os.Stderr, "drop test schema:", err)
		}
	}
}

// TestConformance runs the event log's conformance suite on PostgreSQL.
func TestConformance(t *testing.T) {
	needDatabase(t)
	logtest.Run(t, openConformance)
}

// conformStore is the PostgreSQL store as the store suite sees it:
// StageFile returns its own *StagedFile type.
type conformStore struct{ *pgstore.Store }

func (s conformStore) StageFile(ctx context.Context) (storetest.Staged, error) {
	w, err := s.Store.StageFile(ctx)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// TestStoreConformance runs the store suite on PostgreSQL, each store in a
// schema of its own for its directory.
func TestStoreConformance(t *testing.T) {
	needDatabase(t)
	storetest.Run(t, storetest.Backend{
		Open: func(t testing.TB, dir string) storetest.Store {
			t.Helper()
			s, _ := openIn(t, dir)
			return conformStore{s}
		},
		ErrUnknownKind: pgstore.ErrUnknownKind,
		KeepTokens:     pgstore.DefaultKeepTokens,
		FileChunk:      pgstore.FileChunk,
		StagedTTL:      pgstore.StagedTTL,
		ErrNotStaged:   pgstore.ErrNotStaged,
		FileChunks: func(s storetest.Store, id string) (int, error) {
			return pgstore.ChunkCount(s.(conformStore).Store, id)
		},
		Shared: true,
		SweptChats: func(t testing.TB, s storetest.Store) {
			wantRows(t, s, map[string]int{"chats": 4 + 3, "files": 2, "file_chunks": 1, "identities": 4, "tokens": 2 + 16,
				"events": 3 + 5 + 5 + 2})
		},
		SweptLeftMessages: func(t testing.TB, s storetest.Store) {
			wantRows(t, s, map[string]int{"left_messages": 1, "identities": 1})
		},
	})
}

// wantRows checks the rows of the tables named in want, after one of the
// suite's sweeps: what is left is what stays, nothing of what was deleted.
func wantRows(t testing.TB, s storetest.Store, want map[string]int) {
	t.Helper()
	counts := rowCounts(t, s.(conformStore).Store)
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("table %s: %d rows, want %d", name, counts[name], n)
		}
	}
}
