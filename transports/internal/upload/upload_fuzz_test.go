package upload

import (
	"bytes"
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
