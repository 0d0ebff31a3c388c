package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketFiles    = []byte("files")
	bucketFileData = []byte("file_data")
)

// AddFile stores a file with chat chatID and appends fn's events, in one
// transaction: Mutate with the file. fn must append one FileUploaded event
// (the file takes its seq); it sees the chat's upload count in c.Files, which
// AddFile raises by one. The file's ChatID, Size and Seq are set here; its ID
// must be new. A replayed requestID stores nothing and returns the first
// attempt's events, as Mutate does. content must not be changed afterwards.
func (s *Store) AddFile(ctx context.Context, chatID, requestID string, f model.File, content []byte, fn model.MutateFunc) (model.Chat, []model.Event, bool, error) {
	if f.ID == "" {
		return model.Chat{}, nil, false, errors.New("store: add file: empty file id")
	}
	return s.mutate(ctx, chatID, requestID, fn, func(tx *bolt.Tx, c *model.Chat, added []model.Event) error {
		if err := putFileRecord(tx, c, f, int64(len(content)), added); err != nil {
			return err
		}
		data := tx.Bucket(bucketFileData)
		for n := 0; n*FileChunk < len(content) || n == 0; n++ {
			chunk := content[n*FileChunk : min((n+1)*FileChunk, len(content))]
			if err := data.Put(chunkKey(f.ID, uint32(n)), chunk); err != nil {
				return err
			}
		}
		return nil
	})
}

// putFileRecord writes file f of size bytes of chat c, announced by the
// FileUploaded event among added, and counts it in c.Files.
func putFileRecord(tx *bolt.Tx, c *model.Chat, f model.File, size int64, added []model.Event) error {
	meta := f
	meta.ChatID, meta.Size = c.ID, size
	for _, ev := range added {
		if ev.Type == model.EventFileUploaded {
			meta.Seq = ev.Seq
		}
	}
	if meta.Seq == 0 {
		return fmt.Errorf("store: add file %s: no %s event appended", f.ID, model.EventFileUploaded)
	}
	files := tx.Bucket(bucketFiles)
	if files.Get([]byte(f.ID)) != nil {
		return fmt.Errorf("%w: file %s", model.ErrExists, f.ID)
	}
	if err := putJSON(files, f.ID, meta); err != nil {
		return err
	}
	c.Files++
	return nil
}

// FileChunk is the size of the values a file's content is kept in: every
// chunk but the last holds exactly this many bytes, so a reader finds the
// chunk of any offset, and reading one costs no more than this.
const FileChunk = 64 << 10

// chunkKey is the file_data key of chunk n of file id: id ‖ 0x00 ‖ n as a
// uint32 big-endian (file ids hold no 0x00). A file written before chunks
// has its whole content under its bare id.
func chunkKey(id string, n uint32) []byte {
	k := make([]byte, 0, len(id)+5)
	k = append(append(k, id...), 0)
	return binary.BigEndian.AppendUint32(k, n)
}

// fileBytesAt copies up to FileChunk bytes of file id's content from off,
// in tx: nil at the end.
func fileBytesAt(tx *bolt.Tx, id string, off int64) []byte {
	data := tx.Bucket(bucketFileData)
	if whole := data.Get([]byte(id)); whole != nil { // before chunks
		if off >= int64(len(whole)) {
			return nil
		}
		return bytes.Clone(whole[off:min(off+FileChunk, int64(len(whole)))])
	}
	chunk := data.Get(chunkKey(id, uint32(off/FileChunk)))
	if in := off % FileChunk; in < int64(len(chunk)) {
		return bytes.Clone(chunk[in:])
	}
	return nil
}

// FileReader reads the content of file f (as FileInfo returned it) a chunk
// at a time, each in a read transaction of its own: a download holds one
// chunk, never the file, and no transaction stays open while a client
// reads slowly. It reads f.Size bytes and then io.EOF.
func (s *Store) FileReader(f model.File) io.Reader {
	return &fileReader{s: s, id: f.ID, size: f.Size}
}

type fileReader struct {
	s    *Store
	id   string
	size int64
	off  int64
	buf  []byte
}

func (r *fileReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		err := r.s.view(func(tx *bolt.Tx) error {
			r.buf = fileBytesAt(tx, r.id, r.off)
			return nil
		})
		if err != nil {
			return 0, err
		}
		if len(r.buf) == 0 {
			return 0, fmt.Errorf("store: file %s: content ends at %d of %d bytes", r.id, r.off, r.size)
		}
	}
	n := copy(p, r.buf)
	r.buf, r.off = r.buf[n:], r.off+int64(n)
	return n, nil
}

// FileInfo reads a file's description, or ErrNotFound.
func (s *Store) FileInfo(ctx context.Context, id string) (f model.File, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		f, err = getFile(tx, id)
		return err
	})
	return f, err
}

// FileContent reads a file's description and a copy of its content, or
// ErrNotFound, or ErrExpired with the description when retention deleted
// the content.
func (s *Store) FileContent(ctx context.Context, id string) (f model.File, content []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if f, err = getFile(tx, id); err != nil {
			return err
		}
		if f.Expired != 0 {
			return fmt.Errorf("%w: file %s", model.ErrExpired, id)
		}
		content = make([]byte, 0, f.Size)
		for off := int64(0); ; {
			b := fileBytesAt(tx, id, off)
			if len(b) == 0 {
				return nil
			}
			content, off = append(content, b...), off+int64(len(b))
		}
	})
	return f, content, err
}

func getFile(tx *bolt.Tx, id string) (model.File, error) {
	v := tx.Bucket(bucketFiles).Get([]byte(id))
	if v == nil {
		return model.File{}, fmt.Errorf("%w: file %s", model.ErrNotFound, id)
	}
	var f model.File
	if err := json.Unmarshal(v, &f); err != nil {
		return model.File{}, fmt.Errorf("store: decode file %s: %w", id, err)
	}
	return f, nil
}
