package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
)

// FileChunk is the size of the rows a file's content is kept in: every
// chunk but the last holds exactly this many bytes, so a reader finds the
// chunk of any offset, and reading one costs no more than this.
const FileChunk = 64 << 10

// AddFile stores a file with chat chatID and appends fn's events, in one
// transaction: Mutate with the file. fn must append one FileUploaded event
// (the file takes its seq); it sees the chat's upload count in c.Files,
// which AddFile raises by one. The file's ChatID, Size and Seq are set
// here; its ID must be new (else ErrExists). A replayed requestID stores
// nothing and returns the first attempt's events, as Mutate does. content
// must not be changed afterwards.
//
// The file goes through the writer as a Mutate carrying it, not through a
// transaction of its own: the writer's batch already holds the chat's row
// and knows the seqs and request ids the Mutates before it in the batch
// took, so the file's event follows them as any append does, and the upload
// is group-committed with them. The content is held in memory by the caller
// anyway (a streamed upload is staged: AddStagedFile), and is written by one
// statement of the batch.
func (s *Store) AddFile(ctx context.Context, chatID, requestID string, f model.File, content []byte, fn model.MutateFunc) (model.Chat, []model.Event, bool, error) {
	if f.ID == "" {
		return model.Chat{}, nil, false, errors.New("pgstore: add file: empty file id")
	}
	f.Size = int64(len(content))
	fo := &fileOp{f: f}
	// A file's content has at least one chunk, empty for an empty file,
	// as a staged file's has.
	for n := 0; n*FileChunk < len(content) || n == 0; n++ {
		chunk := content[n*FileChunk : min((n+1)*FileChunk, len(content))]
		if chunk == nil {
			chunk = []byte{} // nil would be NULL
		}
		fo.chunks = append(fo.chunks, chunk)
	}
	return s.submit(&mutateOp{ctx: ctx, id: chatID, requestID: requestID, fn: fn, file: fo, done: make(chan struct{})})
}

// AddStagedFile is AddFile with content already staged: f.ID is the staged
// file's id and f.Size its size. The transaction that writes the file and
// its event adopts the content (the staged row is deleted, the chunks stay
// under the file's id); a replayed requestID, or a failure, adopts
// nothing, and the caller's Discard then deletes the content. Content not
// staged (discarded, swept, adopted already) is ErrNotStaged. It goes
// through the writer as AddFile does.
func (s *Store) AddStagedFile(ctx context.Context, chatID, requestID string, f model.File, fn model.MutateFunc) (model.Chat, []model.Event, bool, error) {
	if f.ID == "" {
		return model.Chat{}, nil, false, errors.New("pgstore: add file: empty file id")
	}
	return s.submit(&mutateOp{ctx: ctx, id: chatID, requestID: requestID, fn: fn, file: &fileOp{f: f, staged: true}, done: make(chan struct{})})
}

// batchFiles is what a batch knows of the file ids its ops write.
type batchFiles struct {
	taken  map[string]bool // ids of files stored, or written earlier in the batch
	staged map[string]bool // staged ids locked for adoption and not adopted yet in the batch
}

// lockFiles reads which of the file ids batch's ops write are taken, and
// locks the staged rows they adopt (in id order, after the chats' rows) so
// that no Discard or sweep deletes the content before the commit.
func lockFiles(ctx context.Context, tx pgx.Tx, batch []*mutateOp) (*batchFiles, error) {
	bf := &batchFiles{taken: map[string]bool{}, staged: map[string]bool{}}
	var ids, staged []string
	for _, op := range batch {
		if op.file != nil {
			ids = append(ids, op.file.f.ID)
			if op.file.staged {
				staged = append(staged, op.file.f.ID)
			}
		}
	}
	if len(ids) == 0 {
		return bf, nil
	}
	read := func(sql string, ids []string, into map[string]bool) error {
		rows, err := tx.Query(ctx, sql, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			into[id] = true
		}
		rows.Close()
		return rows.Err()
	}
	if len(staged) > 0 {
		if err := read(`SELECT id FROM staged_files WHERE id = ANY($1) ORDER BY id FOR UPDATE`, staged, bf.staged); err != nil {
			return nil, fmt.Errorf("lock staged files: %w", err)
		}
	}
	if err := read(`SELECT id FROM files WHERE id = ANY($1)`, ids, bf.taken); err != nil {
		return nil, fmt.Errorf("read files: %w", err)
	}
	return bf, nil
}

// add checks file op fo of chat c, announced by the FileUploaded event
// among added, counts it in c.Files and returns its record. The ids are
// marked taken by mark once the op's write is certain.
func (bf *batchFiles) add(c *model.Chat, fo *fileOp, added []model.Event) ([]byte, error) {
	if fo.staged && !bf.staged[fo.f.ID] {
		return nil, fmt.Errorf("%w: %s", ErrNotStaged, fo.f.ID)
	}
	meta := fo.f
	meta.ChatID = c.ID
	for _, ev := range added {
		if ev.Type == model.EventFileUploaded {
			meta.Seq = ev.Seq
		}
	}
	if meta.Seq == 0 {
		return nil, fmt.Errorf("file %s: no %s event appended", fo.f.ID, model.EventFileUploaded)
	}
	if bf.taken[fo.f.ID] {
		return nil, fmt.Errorf("%w: file %s", model.ErrExists, fo.f.ID)
	}
	record, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode file %s: %w", fo.f.ID, err)
	}
	c.Files++
	return record, nil
}

// mark records that the batch writes fo's file.
func (bf *batchFiles) mark(fo *fileOp) {
	bf.taken[fo.f.ID] = true
	delete(bf.staged, fo.f.ID)
}

// FileInfo reads a file's description, or ErrNotFound.
func (s *Store) FileInfo(ctx context.Context, id string) (model.File, error) {
	return readFile(ctx, s.pool, id)
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readFile(ctx context.Context, q rowQuerier, id string) (model.File, error) {
	var record []byte
	err := q.QueryRow(ctx, `SELECT record FROM files WHERE id = $1`, id).Scan(&record)
	if errors.Is(err, pgx.ErrNoRows) {
		return model.File{}, fmt.Errorf("pgstore: %w: file %s", model.ErrNotFound, id)
	}
	if err != nil {
		return model.File{}, fmt.Errorf("pgstore: read file %s: %w", id, err)
	}
	var f model.File
	if err := json.Unmarshal(record, &f); err != nil {
		return model.File{}, fmt.Errorf("pgstore: decode file %s: %w", id, err)
	}
	return f, nil
}

// FileContent reads a file's description and its content, or ErrNotFound,
// or ErrExpired with the description when retention deleted the content.
// It holds the whole content: FileReader streams it.
func (s *Store) FileContent(ctx context.Context, id string) (f model.File, content []byte, err error) {
	// One snapshot for the record and the chunks: a retention deleting the
	// content meanwhile cannot leave a part of it.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return model.File{}, nil, fmt.Errorf("pgstore: read file %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if f, err = readFile(ctx, tx, id); err != nil {
		return model.File{}, nil, err
	}
	if f.Expired != 0 {
		return f, nil, fmt.Errorf("pgstore: %w: file %s", model.ErrExpired, id)
	}
	rows, err := tx.Query(ctx, `SELECT data FROM file_chunks WHERE file_id = $1 ORDER BY n`, id)
	if err != nil {
		return model.File{}, nil, fmt.Errorf("pgstore: read file %s: %w", id, err)
	}
	defer rows.Close()
	content = make([]byte, 0, max(f.Size, 0))
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return model.File{}, nil, fmt.Errorf("pgstore: read file %s: %w", id, err)
		}
		content = append(content, data...)
	}
	if err := rows.Err(); err != nil {
		return model.File{}, nil, fmt.Errorf("pgstore: read file %s: %w", id, err)
	}
	return f, content, nil
}

// chunkTimeout bounds the read of one chunk by a FileReader, which has no
// context of its own.
const chunkTimeout = 30 * time.Second

// FileReader reads the content of file f (as FileInfo returned it) a chunk
// at a time, each by a query of its own: a download holds one chunk, never
// the file, and no transaction or connection stays held while a client
// reads slowly. It reads f.Size bytes and then io.EOF.
func (s *Store) FileReader(f model.File) io.Reader {
	return &fileReader{s: s, id: f.ID, size: f.Size}
}

type fileReader struct {
	s    *Store
	id   string
	size int64
	off  int64
	buf  []byte // the rest of the chunk read last
}

func (r *fileReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		ctx, cancel := context.WithTimeout(context.Background(), chunkTimeout)
		var data []byte
		err := r.s.pool.QueryRow(ctx, `SELECT data FROM file_chunks WHERE file_id = $1 AND n = $2`,
			r.id, int32(r.off/FileChunk)).Scan(&data)
		cancel()
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("pgstore: read file %s at %d: %w", r.id, r.off, err)
		}
		if in := r.off % FileChunk; in < int64(len(data)) {
			r.buf = data[in:]
		}
		if len(r.buf) == 0 {
			return 0, fmt.Errorf("pgstore: file %s: content ends at %d of %d bytes", r.id, r.off, r.size)
		}
	}
	n := copy(p, r.buf)
	r.buf, r.off = r.buf[n:], r.off+int64(n)
	return n, nil
}
