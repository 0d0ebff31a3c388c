package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// bucketFileStaged holds the files whose content is being written: staged
// id → uint64 big-endian creation time (unix ms). See StageFile.
var bucketFileStaged = []byte("file_staged")

// StagedTTL is the age past which a staged file is abandoned: no upload
// reads its body for that long (the gateway gives one a minute), so a
// staged file this old was left by an upload that never ended.
const StagedTTL = time.Hour

// ErrNotStaged is a write to a staged file that was committed, discarded
// or swept.
var ErrNotStaged = errors.New("store: not a staged file")

// StagedFile is a file's content being written as it arrives, a chunk per
// transaction, before the file exists: an upload holds at most one chunk
// of it in memory. AddStagedFile adopts the content into a file; until
// then nothing reads it, Discard deletes it, and a staged file left behind
// (by a crash, or an upload that never ended) is deleted by the next Open
// or SweepStaged. A StagedFile is used by one goroutine.
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
		return nil, fmt.Errorf("store: stage file: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := u64(uint64(time.Now().UnixMilli()))
	o := &op{apply: func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFileStaged).Put([]byte(id), now)
	}}
	if err := s.submit(ctx, o); err != nil {
		return nil, fmt.Errorf("store: stage file: %w", err)
	}
	w := &StagedFile{s: s, ctx: ctx, id: id}
	w.ChunkWriter = model.ChunkWriter{ChunkSize: FileChunk, Flush: w.flush}
	return w, nil
}

// ID is the id the file will have.
func (w *StagedFile) ID() string { return w.id }

// flush writes chunk n in a transaction of its own, if the file is still
// staged; bbolt copies the value at commit, so the buffer is free after.
func (w *StagedFile) flush(n uint32, chunk []byte) error {
	o := &op{apply: func(tx *bolt.Tx) error {
		if tx.Bucket(bucketFileStaged).Get([]byte(w.id)) == nil {
			return skip{fmt.Errorf("%w: %s", ErrNotStaged, w.id)}
		}
		return tx.Bucket(bucketFileData).Put(chunkKey(w.id, n), chunk)
	}}
	if err := w.s.submit(w.ctx, o); err != nil {
		return fmt.Errorf("store: write staged file: %w", err)
	}
	return nil
}

// Discard deletes the staged content unless AddStagedFile adopted it; it
// is safe to call after either, and more than once. It runs under ctx, not
// the one the file was staged with, which may have ended.
func (w *StagedFile) Discard(ctx context.Context) error {
	w.Stop(ErrNotStaged)
	o := &op{apply: func(tx *bolt.Tx) error {
		_, err := discardStaged(tx, w.id)
		return err
	}}
	return w.s.submit(ctx, o)
}

// discardStaged deletes staged file id and its content, if it is staged.
func discardStaged(tx *bolt.Tx, id string) (bool, error) {
	staged := tx.Bucket(bucketFileStaged)
	if staged.Get([]byte(id)) == nil {
		return false, nil
	}
	if err := staged.Delete([]byte(id)); err != nil {
		return false, err
	}
	_, err := deleteFileContent(tx, id)
	return true, err
}

// sweepStaged deletes the staged files created before cutoff (unix ms), at
// most limit of them, and says how many it deleted.
func sweepStaged(tx *bolt.Tx, cutoff int64, limit int) (int, error) {
	var ids []string
	c := tx.Bucket(bucketFileStaged).Cursor()
	for k, v := c.First(); k != nil && len(ids) < limit; k, v = c.Next() {
		if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < cutoff {
			ids = append(ids, string(k))
		}
	}
	for _, id := range ids {
		if _, err := discardStaged(tx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// SweepStaged deletes the staged files created before before, a bounded
// number per transaction, and says how many it deleted. Open deletes every
// staged file (no upload outlives the process); this catches those an
// upload left while the process runs, which its own Discard should have
// deleted.
func (s *Store) SweepStaged(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int
		o := &op{}
		o.apply = func(tx *bolt.Tx) (err error) {
			n, err = sweepStaged(tx, before.UnixMilli(), 64)
			return err
		}
		if err := s.submit(ctx, o); err != nil {
			return total, fmt.Errorf("store: sweep staged files: %w", err)
		}
		if total += n; n < 64 {
			return total, nil
		}
	}
}

// StagedCount is the number of staged files and of their chunks: for
// tests and checks.
func (s *Store) StagedCount() (files, chunks int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketFileData)
		return tx.Bucket(bucketFileStaged).ForEach(func(k, _ []byte) error {
			files++
			prefix := append(bytes.Clone(k), 0)
			c := data.Cursor()
			for dk, _ := c.Seek(prefix); dk != nil && bytes.HasPrefix(dk, prefix); dk, _ = c.Next() {
				chunks++
			}
			return nil
		})
	})
	return files, chunks, err
}

// AddStagedFile is AddFile with content already staged: f.ID is the staged
// file's id and f.Size its size. The transaction that writes the file and
// its event adopts the content (the staged record is deleted, the chunks
// stay under the file's id); a replayed requestID, or a failure, adopts
// nothing, and the caller's Discard then deletes the content.
func (s *Store) AddStagedFile(ctx context.Context, chatID, requestID string, f model.File, fn model.MutateFunc) (model.Chat, []model.Event, bool, error) {
	if f.ID == "" {
		return model.Chat{}, nil, false, errors.New("store: add file: empty file id")
	}
	return s.mutate(ctx, chatID, requestID, fn, func(tx *bolt.Tx, c *model.Chat, added []model.Event) error {
		staged := tx.Bucket(bucketFileStaged)
		if staged.Get([]byte(f.ID)) == nil {
			return fmt.Errorf("%w: %s", ErrNotStaged, f.ID)
		}
		if err := staged.Delete([]byte(f.ID)); err != nil {
			return err
		}
		return putFileRecord(tx, c, f, f.Size, added)
	})
}
