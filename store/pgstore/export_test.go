package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cxgate/cxgate/model"
)

// BatchMutate is one Mutate of a batch RunBatch commits.
type BatchMutate struct {
	ID, RequestID string
	Fn            model.MutateFunc
}

// BatchResult is what one Mutate of the batch answered.
type BatchResult struct {
	Chat     model.Chat
	Events   []model.Event
	Replayed bool
	Err      error
}

// RunBatch commits ms as the writer commits the Mutates it found queued
// together: the batch's make-up is the test's, not the scheduler's.
func RunBatch(s *Store, ms []BatchMutate) []BatchResult {
	ops := make([]*mutateOp, len(ms))
	for i, m := range ms {
		ops[i] = &mutateOp{ctx: context.Background(), id: m.ID, requestID: m.RequestID, fn: m.Fn, done: make(chan struct{})}
	}
	s.commitBatch(ops)
	out := make([]BatchResult, len(ops))
	for i, op := range ops {
		<-op.done
		out[i] = BatchResult{op.chat, op.evs, op.replayed, op.err}
	}
	return out
}

// Pool is the store's connection pool, for tests that write what no
// method writes.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ChunkCount is the number of file_chunks rows under id.
func ChunkCount(s *Store, id string) (int, error) {
	var n int
	err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM file_chunks WHERE file_id = $1`, id).Scan(&n)
	return n, err
}

// BatchFile is one AddFile of a batch RunFileBatch commits.
type BatchFile struct {
	ChatID, RequestID string
	File              model.File
	Content           []byte // unless Staged
	Staged            bool   // the content is staged under File.ID
	Fn                model.MutateFunc
}

// RunFileBatch commits fs in one batch, as the writer commits AddFiles it
// found queued together.
func RunFileBatch(s *Store, fs []BatchFile) []BatchResult {
	ops := make([]*mutateOp, len(fs))
	for i, f := range fs {
		fo := &fileOp{f: f.File, staged: f.Staged}
		if !f.Staged {
			fo.f.Size, fo.chunks = int64(len(f.Content)), [][]byte{f.Content}
		}
		ops[i] = &mutateOp{ctx: context.Background(), id: f.ChatID, requestID: f.RequestID, fn: f.Fn, file: fo, done: make(chan struct{})}
	}
	s.commitBatch(ops)
	out := make([]BatchResult, len(ops))
	for i, op := range ops {
		<-op.done
		out[i] = BatchResult{op.chat, op.evs, op.replayed, op.err}
	}
	return out
}
