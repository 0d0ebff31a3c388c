package upload

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"

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

// Read reads a multipart/form-data body from r: the part "file" (its name
// from the part's filename, its declared type from the part's Content-Type)
// and the fields named in fields, each of at most 256 bytes. Other parts are
// skipped; a second file, more than 8 parts or a malformed body is
// invalid_request. beforeFile, when set, runs with the fields read so far
// when the file part begins, before any of the file is read: an error from
// it ends the read (a client that sends its credentials first is refused
// before its file costs anything).
func Read(contentType string, r io.Reader, beforeFile func(fields map[string]string) error, fields ...string) (Form, error) {
	up := Form{Fields: map[string]string{}}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return up, bad(`the body must be multipart/form-data with a part named "file"`)
	}
	mr := multipart.NewReader(r, params["boundary"])
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return up, nil
		}
		if err != nil {
			return Form{}, bad("malformed multipart body").Wrap(err)
		}
		if n == maxParts {
			return Form{}, bad("too many parts")
		}
		switch name := part.FormName(); {
		case name == "file":
			if up.File != nil {
				return Form{}, bad("one file per upload")
			}
			if beforeFile != nil {
				if err := beforeFile(up.Fields); err != nil {
					return Form{}, err
				}
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return Form{}, bad("malformed file part").Wrap(err)
			}
			up.File = &bus.File{Name: part.FileName(), Type: part.Header.Get(fiber.HeaderContentType),
				Size: int64(len(data)), Data: data}
		case slices.Contains(fields, name):
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil || len(v) > maxFieldBytes {
				return Form{}, bad(name + " is limited to 256 bytes")
			}
			up.Fields[name] = string(v)
		}
		_ = part.Close()
	}
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
