package native_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
)

// TestFiles_LimitRaisedAtRunTime raises a deployment's files.maxBytes through
// the admin API: a file over the old limit is then accepted, without a
// restart.
func TestFiles_LimitRaisedAtRunTime(t *testing.T) {
	g := filesGateway(t, config.Files{Enabled: true}) // the default 10 MiB
	c := g.mustStartChat(t, "Rita")
	const size = 12 << 20

	// Over the limit, the body is refused on its declared length.
	status, body := postDeclared(t, g.Addr, "/v1/files", c.Token, size+4096)
	if status != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(`"file_too_large"`)) {
		t.Fatalf("12 MiB upload under a 10 MiB limit: HTTP %d %s, want 413 file_too_large", status, body)
	}

	admin := wiretest.NewHTTP(t, g.URL).WithToken(g.AdminToken)
	var demo map[string]any
	wiretest.Decode(t, admin.Do(adminRequest(t, http.MethodGet, g.URL+"/v1/admin/deployments/demo", nil)).Resolved(t), &demo)
	files, _ := demo["files"].(map[string]any)
	if files == nil {
		t.Fatalf("deployment demo has no files: %v", demo)
	}
	files["maxBytes"] = 16 << 20
	admin.Do(adminRequest(t, http.MethodPut, g.URL+"/v1/admin/deployments/demo", demo)).Resolved(t)

	var up uploaded
	upload(t, g.URL, c.Token, "big.txt", "text/plain", bytes.Repeat([]byte("a"), size), nil).Into(t, &up)
	if up.FileID == "" || up.Size != size {
		t.Errorf("upload answer %+v, want a file of %d bytes", up, size)
	}
}

func adminRequest(t testing.TB, method, url string, body any) *http.Request {
	t.Helper()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestFiles_ManyChunks: a file of several of the store's 64 KiB chunks is
// downloaded whole, byte for byte, with its length declared up front (the
// body is streamed from the store a chunk at a time).
func TestFiles_ManyChunks(t *testing.T) {
	g := filesGateway(t, config.Files{Enabled: true})
	c := g.mustStartChat(t, "Rita")
	content := bytes.Repeat([]byte("chunked text, line after line\n"), 10000) // 300,000 bytes
	var up uploaded
	upload(t, g.URL, c.Token, "long.txt", "text/plain", content, nil).Into(t, &up)
	resp, body := download(t, g.URL, c.Token, up.FileID)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("download: HTTP %d, %d bytes, want the %d uploaded", resp.StatusCode, len(body), len(content))
	}
	if resp.ContentLength != int64(len(content)) {
		t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(content))
	}
}
