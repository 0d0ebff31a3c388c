package upload

import (
	"bytes"
	"context"
	"maps"
	"testing"

	"github.com/cxgate/cxgate/bus"
)

// FuzzDecode: any body either decodes or is invalid_request, never a panic;
// only the fields asked for are kept, each within 256 bytes; a file's bytes
// are a copy of the body's.
func FuzzDecode(f *testing.F) {
	const ct = "multipart/form-data; boundary=xyz"
	// The widget's GMS upload: the file and the session's three fields.
	f.Add(ct, []byte("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n"+
		"--xyz\r\nContent-Disposition: form-data; name=\"alias\"\r\n\r\n1\r\n"+
		"--xyz\r\nContent-Disposition: form-data; name=\"userId\"\r\n\r\nu_1\r\n"+
		"--xyz\r\nContent-Disposition: form-data; name=\"secureKey\"\r\n\r\nk3y\r\n--xyz--\r\n"))
	// A native upload with chatId and requestId.
	f.Add(ct, []byte("--xyz\r\nContent-Disposition: form-data; name=\"chatId\"\r\n\r\nc1\r\n"+
		"--xyz\r\nContent-Disposition: form-data; name=\"requestId\"\r\n\r\nr1\r\n"+
		"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../x.txt\"\r\n\r\nhello\r\n--xyz--\r\n"))
	// A field over 256 bytes, a field not asked for, two files.
	f.Add(ct, []byte("--xyz\r\nContent-Disposition: form-data; name=\"secureKey\"\r\n\r\n"+string(bytes.Repeat([]byte("k"), 300))+"\r\n--xyz--\r\n"))
	f.Add(ct, []byte("--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n"+
		"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\none\r\n--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ntwo\r\n--xyz--\r\n"))
	f.Add("application/x-www-form-urlencoded", []byte("alias=1&userId=u&secureKey=k"))
	f.Add("multipart/form-data", []byte("--\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		orig := bytes.Clone(body)
		up, err := Decode(contentType, body, "alias", "userId", "secureKey", "chatId")
		checkStream(t, contentType, orig, up, err)
		if err != nil {
			if code := bus.CodeOf(err); code != bus.CodeInvalidRequest {
				t.Fatalf("error code %q, want invalid_request", code)
			}
			return
		}
		for k, v := range up.Fields {
			if k != "alias" && k != "userId" && k != "secureKey" && k != "chatId" {
				t.Fatalf("field %q was not asked for", k)
			}
			if len(v) > maxFieldBytes {
				t.Fatalf("field %q of %d bytes", k, len(v))
			}
		}
		if up.File == nil {
			return
		}
		if int64(len(up.File.Data)) != up.File.Size || len(up.File.Data) > len(body) {
			t.Fatalf("size %d for %d bytes of a %d-byte body", up.File.Size, len(up.File.Data), len(body))
		}
		for i := range body {
			body[i] ^= 0xff
		}
		if len(up.File.Data) > 0 && bytes.Contains(body, up.File.Data) && !bytes.Contains(orig, up.File.Data) {
			t.Fatal("file data aliases the body")
		}
	})
}

// memStaged is a staged file kept in memory, to hold Stream to what Read
// does.
type memStaged struct {
	buf       bytes.Buffer
	closed    bool
	discarded *int
}

func (m *memStaged) Write(p []byte) (int, error) { return m.buf.Write(p) }
func (m *memStaged) ID() string                  { return "staged-1" }
func (m *memStaged) Close() error                { m.closed = true; return nil }
func (m *memStaged) Head() []byte                { return bytes.Clone(m.buf.Bytes()[:min(512, m.buf.Len())]) }
func (m *memStaged) Discard(context.Context) error {
	*m.discarded++
	return nil
}

type memStager struct {
	staged    []*memStaged
	discarded int
}

func (s *memStager) Stage(context.Context) (Staged, error) {
	m := &memStaged{discarded: &s.discarded}
	s.staged = append(s.staged, m)
	return m, nil
}

// checkStream: Stream reads body as Read did (want, wantErr): the same
// fields, the same error code, the file's size, its first bytes in Head
// and the whole of it written to the stager; an error discards what was
// staged.
func checkStream(t *testing.T, contentType string, body []byte, want Form, wantErr error) {
	t.Helper()
	var st memStager
	got, err := Stream(context.Background(), &st, contentType, bytes.NewReader(body), StreamOptions{},
		"alias", "userId", "secureKey", "chatId")
	if (err == nil) != (wantErr == nil) || err != nil && bus.CodeOf(err) != bus.CodeOf(wantErr) {
		t.Fatalf("Stream: %v, Read: %v", err, wantErr)
	}
	if err != nil {
		if len(st.staged) > 0 && st.discarded == 0 {
			t.Fatal("Stream failed without discarding what it staged")
		}
		return
	}
	defer got.Discard()
	if !maps.Equal(got.Fields, want.Fields) || (got.File == nil) != (want.File == nil) {
		t.Fatalf("Stream: fields %v file %v, Read: %v %v", got.Fields, got.File != nil, want.Fields, want.File != nil)
	}
	if want.File == nil {
		return
	}
	m := st.staged[len(st.staged)-1]
	if got.File.Size != want.File.Size || got.File.Data != nil || got.File.Staged != m.ID() || !m.closed ||
		!bytes.Equal(m.buf.Bytes(), want.File.Data) || !bytes.Equal(got.File.Head, want.File.Data[:min(512, len(want.File.Data))]) {
		t.Fatalf("Stream: file of %d bytes staged as %q, Read: %d", got.File.Size, got.File.Staged, want.File.Size)
	}
	if got.File.Name != want.File.Name || got.File.Type != want.File.Type {
		t.Fatalf("Stream: name %q type %q, Read: %q %q", got.File.Name, got.File.Type, want.File.Name, want.File.Type)
	}
}
