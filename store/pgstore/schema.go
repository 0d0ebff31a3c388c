package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's steps, in order; the schema's version is the
// number applied. A step is never changed once released: a change is a new
// step.
//
// Each group of tables has its step in its own file; the order here is the
// order they were released in.
var migrations = []string{
	migrationLog,       // 1: chats and their events
	migrationRecords,   // 2: identities, tokens, files, statuses, settings (schema_records.go)
	migrationDirectory, // 3: directory, outbox, change feed, left messages (schema_directory.go)
	migrationCluster,   // 4: what nodes share beyond the store interfaces (schema_cluster.go)
	migrationSeats,     // 5: the agents sitting in each open chat (schema_seats.go)
}

// migrationLog is step 1.
const migrationLog = `CREATE TABLE chats (
		id         text PRIMARY KEY,
		deployment text NOT NULL,
		start_key  text,
		last_seq   bigint NOT NULL,
		record     bytea NOT NULL
	);
	CREATE UNIQUE INDEX chats_start ON chats (deployment, start_key) WHERE start_key IS NOT NULL;
	CREATE TABLE events (
		chat_id    text NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
		seq        bigint NOT NULL,
		request_id text,
		body       bytea NOT NULL,
		PRIMARY KEY (chat_id, seq)
	);
	CREATE INDEX events_request ON events (chat_id, request_id) WHERE request_id IS NOT NULL;`

// migrateLock is the advisory lock key held while the schema is checked and
// migrated: gateways starting at once take turns.
const migrateLock = 0x63786761746531 // "cxgate1"

// migrate creates the schema or brings it to the version this package
// writes (every step of migrations), in one transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	latest := len(migrations)
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS cxgate_schema (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("create cxgate_schema: %w", err)
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM cxgate_schema`).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO cxgate_schema (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read version: %w", err)
	}
	if version > latest {
		return fmt.Errorf("the database has schema %d, newer than this binary's %d", version, latest)
	}
	for v := version; v < latest; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
	}
	if version == latest {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE cxgate_schema SET version = $1`, latest); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
