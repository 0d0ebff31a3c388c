package native

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/textproto"
	"testing"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/transports/internal/upload"
)

// encodeUpload is what a browser's FormData sends.
func encodeUpload(t testing.TB, name, declared string, content []byte, chatID string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if chatID != "" {
		if err := w.WriteField("chatId", chatID); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": name}))
	if declared != "" {
		h.Set("Content-Type", declared)
	}
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(content)
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// FuzzDecodeUpload: any body either decodes or is invalid_request, never a
// panic; a file's bytes are a copy (the body may be reused after the
// handler); a form a browser would send round-trips; and whatever the name,
// the cleaned name and its Content-Disposition stay one safe header value.
func FuzzDecodeUpload(f *testing.F) {
	f.Add("multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--xyz--\r\n"), "a.png", []byte("x"))
	f.Add("multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\n\r\nroot\r\n--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ntwo\r\n--xyz--\r\n"), `..\..\boot.ini`, []byte{})
	f.Add("multipart/form-data", []byte("--\r\n"), "\x00\u202e.exe", []byte("\x7fELF"))
	f.Add("application/json", []byte(`{"file":1}`), `"; filename*=x`, []byte("{}"))
	f.Add("multipart/form-data; boundary=\"a b\"", []byte("--a b\r\n\r\n--a b--"), "é€😀.txt", bytes.Repeat([]byte("a"), 300))
	f.Fuzz(func(t *testing.T, contentType string, body []byte, name string, content []byte) {
		orig := bytes.Clone(body)
		up, err := decodeUpload(contentType, bytes.NewReader(body))
		if err != nil {
			if code := bus.CodeOf(err); code != bus.CodeInvalidRequest {
				t.Fatalf("error code %q, want invalid_request", code)
			}
		} else if up.File != nil {
			for i := range body {
				body[i] ^= 0xff
			}
			if len(up.File.Data) > 0 && bytes.Contains(body, up.File.Data) && !bytes.Contains(orig, up.File.Data) {
				t.Fatalf("file data aliases the body")
			}
			copy(body, orig)
			if int64(len(up.File.Data)) != up.File.Size || len(up.File.Data) > len(body) {
				t.Fatalf("size %d for %d bytes of a %d-byte body", up.File.Size, len(up.File.Data), len(body))
			}
		}

		ct, enc := encodeUpload(t, name, "image/png", content, "chat-1")
		got, err := decodeUpload(ct, bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("a browser's form: %v", err)
		}
		if got.File == nil || !bytes.Equal(got.File.Data, content) || got.ChatID != "chat-1" {
			t.Fatalf("round trip: %+v", got)
		}

		clean := engine.CleanFileName(got.File.Name)
		if clean == "" || len(clean) > 255 || bytes.ContainsAny([]byte(clean), "/\\\x00\r\n") {
			t.Fatalf("cleaned name %q", clean)
		}
		cd := upload.ContentDisposition(clean)
		if bytes.ContainsAny([]byte(cd), "\r\n\x00") {
			t.Fatalf("Content-Disposition %q holds a control byte", cd)
		}
		disp, params, err := mime.ParseMediaType(cd)
		if err != nil || disp != "attachment" {
			t.Fatalf("Content-Disposition %q: %q %v", cd, disp, err)
		}
		if params["filename"] != clean {
			t.Fatalf("Content-Disposition %q names %q, want %q", cd, params["filename"], clean)
		}
	})
}
