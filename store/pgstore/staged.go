package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/cxgate/cxgate/model"
	"github.com/jackc/pgx/v5"
)

// StagedTTL is the age past which a staged file is abandoned: no upload
// reads its body for that long (the gateway gives one a minute), so a
// staged file this old was left by an upload that never ended.
const StagedTTL = time.Hour

// ErrNotStaged is a write to a staged file that was adopted, discarded or
// swept, or the adoption of one.
var ErrNotStaged = errors.New("pgstore: not a staged file")

// StagedFile is a file's content being written as it arrives, a chunk per
// statement, before the file exists: an upload holds at most one chunk of
// it in memory. AddStagedFile adopts the content into a file; until then
// nothing reads it, Discard deletes it, and a staged file left behind (by
// a crash, or an upload that never ended) is deleted by SweepStaged once
// older than StagedTTL. Open does not delete staged files, as the bbolt
// store does: other gateways sharing the database may be uploading them.
// A StagedFile is used by one goroutine.
type StagedFile struct {
	model.ChunkWriter // Write, Close, Size, Head
	s                 *Store
	ctx               context.Context
	id                string
}

// StageFile starts a staged file under a new file id; its writes run under
// ctx.
func (s *Store) StageFile(ctx context.Context) (*StagedFile, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("pgstore: stage file: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := s.pool.Exec(ctx, `INSERT INTO staged_files (id, created_at) VALUES ($1, $2)`, id, time.Now().UnixMilli()); err != nil {
		return nil, fmt.Errorf("pgstore: stage file: %w", err)
	}
	w := &StagedFile{s: s, ctx: ctx, id: id}
	w.ChunkWriter = model.ChunkWriter{ChunkSize: FileChunk, Flush: w.flush}
	return w, nil
}

// ID is the id the file will have.
func (w *StagedFile) ID() string { return w.id }

// flush writes chunk n, if the file is still staged. The
// statement holds the staged row (FOR KEY SHARE) until it committed, so a
// Discard or an adoption waits for the chunk and then sees it: a Discard
// deletes it with the others, and no chunk is written after one.
func (w *StagedFile) flush(n uint32, chunk []byte) error {
	tag, err := w.s.pool.Exec(w.ctx, `INSERT INTO file_chunks (file_id, n, data)
		SELECT id, $2, $3 FROM staged_files WHERE id = $1 FOR KEY SHARE`, w.id, int32(n), chunk)
	switch {
	case err != nil:
		return fmt.Errorf("pgstore: write staged file: %w", err)
	case tag.RowsAffected() == 0:
		return fmt.Errorf("pgstore: write staged file: %w: %s", ErrNotStaged, w.id)
	}
	// The statement sent the chunk: the buffer is free again.
	return nil
}

// Discard deletes the staged content unless AddStagedFile adopted it; it
// is safe to call after either, and more than once. It runs under ctx, not
// the one the file was staged with, which may have ended.
func (w *StagedFile) Discard(ctx context.Context) error {
	w.Stop(ErrNotStaged)
	if err := pgx.BeginFunc(ctx, w.s.pool, func(tx pgx.Tx) error {
		_, err := discardStaged(ctx, tx, []string{w.id})
		return err
	}); err != nil {
		return fmt.Errorf("pgstore: discard staged file %s: %w", w.id, err)
	}
	return nil
}

// discardStaged deletes those of ids that are staged files, with their
// content, and returns how many it deleted. The chunks are deleted by a
// statement after the one deleting the staged rows: it sees the chunks of
// the writes that statement waited for.
func discardStaged(ctx context.Context, tx pgx.Tx, ids []string) (int, error) {
	rows, err := tx.Query(ctx, `DELETE FROM staged_files WHERE id = ANY($1) RETURNING id`, ids)
	if err != nil {
		return 0, err
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(gone) == 0 {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM file_chunks WHERE file_id = ANY($1)`, gone); err != nil {
		return 0, err
	}
	return len(gone), nil
}

// sweepBatch bounds the staged files one sweep transaction deletes.
const sweepBatch = 64

// SweepStaged deletes the staged files created before before, a bounded
// number per transaction, and says how many it deleted. It catches those
// an upload left behind, which its own Discard should have deleted; the
// ones a transaction holds (being written, or adopted) are left to the
// next sweep.
func (s *Store) SweepStaged(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id FROM staged_files WHERE created_at < $1
				ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`, before.UnixMilli(), sweepBatch)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil || len(ids) == 0 {
				return err
			}
			n, err = discardStaged(ctx, tx, ids)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("pgstore: sweep staged files: %w", err)
		}
		if total += n; n < sweepBatch {
			return total, nil
		}
	}
}

// StagedCount is the number of staged files and of their chunks: for
// tests and checks.
func (s *Store) StagedCount() (files, chunks int, err error) {
	err = s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM staged_files),
		(SELECT count(*) FROM file_chunks c JOIN staged_files s ON s.id = c.file_id)`).Scan(&files, &chunks)
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: count staged files: %w", err)
	}
	return files, chunks, nil
}
