package upload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
)

const (
	maxParts      = 8   // parts read from an upload; the rest is refused
	maxFieldBytes = 256 // a form field other than the file
)

// Form is a decoded upload. Every field is a copy owned by the Form.
type Form struct {
	File   *bus.File         // nil when the body had no part "file"
	Fields map[string]string // the fields asked for that the body holds

	staged Staged // the file's content, while no command adopted it
}

func bad(why string) *bus.Rejection {
	return bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "The upload is not valid: "+why+".")
}

// Decode reads a multipart/form-data body held in memory, as Read does.
func Decode(contentType string, body []byte, fields ...string) (Form, error) {
	return Read(contentType, bytes.NewReader(body), nil, fields...)
}

// Body is the body of an upload request as a stream: what of it is still
// on the wire is read as the caller reads, never reserved on its declared
// length. The gateway bounds that length before the route runs.
func Body(c *fiber.Ctx) io.Reader {
	if r := c.Context().RequestBodyStream(); r != nil {
		return r
	}
	return bytes.NewReader(c.Body())
}

// Stager starts the staged files an upload's content is written to as it
// arrives (the store's, see store.StagedFile).
type Stager interface {
	Stage(ctx context.Context) (Staged, error)
}

// Staged is a file's content being written to the store.
type Staged interface {
	io.Writer
	ID() string
	Head() []byte // the first bytes written, up to 512
	Close() error // writes what is buffered
	// Discard deletes the content unless a command adopted it.
	Discard(ctx context.Context) error
}

// Read reads a multipart/form-data body from r: the part "file" (its name
// from the part's filename, its declared type from the part's Content-Type)
// and the fields named in fields, each of at most 256 bytes. Other parts are
// skipped; a second file, more than 8 parts or a malformed body is
// invalid_request. beforeFile, when set, runs with the fields read so far
// when the file part begins, before any of the file is read: an error from
// it ends the read (a client that sends its credentials first is refused
// before its file costs anything). The file is read into memory: see Stream.
func Read(contentType string, r io.Reader, beforeFile func(fields map[string]string) error, fields ...string) (Form, error) {
	return read(context.Background(), nil, contentType, r, StreamOptions{BeforeFile: beforeFile}, fields)
}

// StreamOptions tune Stream.
type StreamOptions struct {
	// BeforeFile is Read's beforeFile.
	BeforeFile func(fields map[string]string) error
	// MaxBytes, when set, is asked as the file part begins (after
	// BeforeFile): once the file is past a positive answer its staged
	// content is deleted and the rest of the part read and dropped, and the
	// Form's File tells the size it had, without content, for the command
	// to refuse as too large. 0: no bound but the gateway's on the body.
	MaxBytes func() int64
}

// Stream reads an upload as Read does, but writes the file part's content
// to a file staged with st as it arrives, a chunk at a time, so that an
// upload holds a few chunks in memory whatever its size: the Form's File
// then has Staged, Size and Head in place of Data. The fields after the
// file part are read as well. Call the Form's Discard once the command that
// may adopt the content returned; on an error Stream discards it itself.
func Stream(ctx context.Context, st Stager, contentType string, r io.Reader, o StreamOptions, fields ...string) (Form, error) {
	// The writes wait for the store no longer than this, whatever ctx.
	ctx, cancel := context.WithTimeout(ctx, stageTimeout)
	defer cancel()
	return read(ctx, st, contentType, r, o, fields)
}

// stageTimeout bounds the reading of a streamed upload's body and its
// writes to the store: far more than the gateway gives an upload's body
// (a minute), so that only a stalled store runs into it.
const stageTimeout = 5 * time.Minute

// discardTimeout bounds the deletion of a staged file: it runs after the
// request's own context may have ended.
const discardTimeout = 10 * time.Second

// Discard deletes the content of a streamed upload's file unless a command
// adopted it. A Form read into memory has nothing to discard.
func (f *Form) Discard() {
	if f.staged == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), discardTimeout)
	defer cancel()
	// A failure leaves the content to the store's sweep of staged files.
	_ = f.staged.Discard(ctx)
	f.staged = nil
}

func read(ctx context.Context, st Stager, contentType string, r io.Reader, o StreamOptions, fields []string) (up Form, err error) {
	up = Form{Fields: map[string]string{}}
	defer func() {
		if err != nil {
			up.Discard()
			up = Form{}
		}
	}()
	mt, params, perr := mime.ParseMediaType(contentType)
	if perr != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return up, bad(`the body must be multipart/form-data with a part named "file"`)
	}
	mr := multipart.NewReader(r, params["boundary"])
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return up, nil
		}
		if err != nil {
			return up, bad("malformed multipart body").Wrap(err)
		}
		if n == maxParts {
			return up, bad("too many parts")
		}
		switch name := part.FormName(); {
		case name == "file":
			if up.File != nil {
				return up, bad("one file per upload")
			}
			if o.BeforeFile != nil {
				if err := o.BeforeFile(up.Fields); err != nil {
					return up, err
				}
			}
			f := &bus.File{Name: part.FileName(), Type: part.Header.Get(fiber.HeaderContentType)}
			if st == nil {
				data, err := io.ReadAll(part)
				if err != nil {
					return up, bad("malformed file part").Wrap(err)
				}
				f.Size, f.Data = int64(len(data)), data
			} else if err := up.stage(ctx, st, part, f, o.MaxBytes); err != nil {
				return up, err
			}
			up.File = f
		case slices.Contains(fields, name):
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil || len(v) > maxFieldBytes {
				return up, bad(name + " is limited to 256 bytes")
			}
			up.Fields[name] = string(v)
		}
		_ = part.Close()
	}
}

// stageBuf is what a streamed upload reads from the body at a time.
const stageBuf = 32 << 10

// stage copies the file part to a new staged file and describes it in f;
// past maxBytes (when it answers more than 0) it deletes the staged file
// and reads the rest of the part to count it.
func (up *Form) stage(ctx context.Context, st Stager, part io.Reader, f *bus.File, maxBytes func() int64) error {
	limit := int64(-1)
	if maxBytes != nil {
		if n := maxBytes(); n > 0 {
			limit = n
		}
	}
	w, err := st.Stage(ctx)
	if err != nil {
		return bus.ErrInternal.Wrap(err)
	}
	up.staged = w
	var (
		size int64
		over bool
	)
	buf := make([]byte, stageBuf)
	for {
		n, rerr := part.Read(buf)
		size += int64(n)
		if !over && limit >= 0 && size > limit {
			// Too large whatever follows: the content goes now, the rest
			// of the part is only counted.
			over = true
			dctx, cancel := context.WithTimeout(context.Background(), discardTimeout)
			err := w.Discard(dctx)
			cancel()
			if err != nil {
				return bus.ErrInternal.Wrap(err)
			}
		}
		if !over && n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return bus.ErrInternal.Wrap(err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return bad("malformed file part").Wrap(rerr)
		}
	}
	if !over {
		if err := w.Close(); err != nil {
			return bus.ErrInternal.Wrap(err)
		}
	}
	f.Size, f.Staged, f.Head = size, w.ID(), w.Head()
	return nil
}

// Send answers f's bytes as a download: its detected type, an attachment
// named f.Name, never sniffed, stored or run.
func Send(c *fiber.Ctx, f *bus.File) error {
	typ := f.Type
	if typ == "" {
		typ = "application/octet-stream"
	}
	c.Set(fiber.HeaderContentType, typ)
	c.Set(fiber.HeaderContentDisposition, ContentDisposition(f.Name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	// Opened directly rather than downloaded, the file still runs nothing.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; sandbox")
	if f.Reader != nil {
		// Written as it is read, a chunk at a time, after the handler returns.
		c.Context().SetBodyStream(f.Reader, int(f.Size))
		return nil
	}
	return c.Send(f.Data)
}

// ContentDisposition is the Content-Disposition of a download named name:
// always an attachment, the name quoted or RFC 2231-encoded as its bytes
// require, so that no name can break out of the header.
func ContentDisposition(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
