package native_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// A PNG signature and header: what http.DetectContentType calls image/png.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"), bytes.Repeat([]byte{7}, 64)...)

// An ELF executable's first bytes: application/octet-stream.
var elfBytes = append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), bytes.Repeat([]byte{0}, 64)...)

const textNoUploads = "This transport doesn't support file uploads."

// multipartBody builds a form with the file part and the given fields.
func multipartBody(t testing.TB, name, declared string, content []byte, fields map[string]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": name}))
	if declared != "" {
		h.Set("Content-Type", declared)
	}
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(content)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

// upload posts one file with token; fields add form fields (chatId).
func upload(t testing.TB, baseURL, token, name, declared string, content []byte, fields map[string]string) wiretest.Reply {
	t.Helper()
	ct, body := multipartBody(t, name, declared, content, fields)
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/files", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return wiretest.NewHTTP(t, baseURL).Do(req)
}

// download gets a file with token: the response and its body.
func download(t testing.TB, baseURL, token, fileID string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/v1/files/"+fileID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// wantRejected checks a rejection's status, code and (when given) message.
func wantRejected(t testing.TB, what string, r wiretest.Reply, status int, code, message string) {
	t.Helper()
	if r.Status != "rejected" || r.Error == nil {
		t.Fatalf("%s: want rejected %s, got HTTP %d %s", what, code, r.HTTPStatus, r.Body)
	}
	if r.HTTPStatus != status || r.Error.Code != code || (message != "" && r.Error.Message != message) {
		t.Errorf("%s: got %d %s %q, want %d %s %q", what, r.HTTPStatus, r.Error.Code, r.Error.Message, status, code, message)
	}
}

type fileDetails struct {
	Name string `json:"file-name"`
	Size int64  `json:"file-size"`
	ID   string `json:"file-id"`
	Type string `json:"file-type"`
}

type uploaded struct {
	FileID      string      `json:"fileId"`
	Name        string      `json:"name"`
	Type        string      `json:"type"`
	Size        int64       `json:"size"`
	Seq         uint64      `json:"seq"`
	FileDetails fileDetails `json:"fileDetails"`
}

// fileMessage finds the FileUploaded message of a messageReceived event.
func fileMessage(t testing.TB, ev wiretest.Event) (chatID string, d fileDetails, from string, ok bool) {
	t.Helper()
	var data struct {
		ChatID   string `json:"chatId"`
		Messages []struct {
			Type        string      `json:"type"`
			Text        string      `json:"text"`
			FileDetails fileDetails `json:"fileDetails"`
			From        struct {
				Type string `json:"type"`
			} `json:"from"`
		} `json:"messages"`
	}
	wiretest.Decode(t, ev.Data, &data)
	for _, m := range data.Messages {
		if m.Type == "FileUploaded" {
			return data.ChatID, m.FileDetails, m.From.Type, true
		}
	}
	return "", fileDetails{}, "", false
}

// TestFiles_VisitorAndAgent: a visitor uploads, the agent's socket and the
// visitor's long-poll receive the FileUploaded event, both download the same
// bytes; the agent uploads back; another chat's token finds nothing.
func TestFiles_VisitorAndAgent(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita")
	ann := g.dialAgent(t, 0)

	hostile := `<img src=x onerror=alert(1)>"; a.png`
	var up uploaded
	upload(t, g.URL, c.Token, "C:\\Users\\rita\\"+hostile, "image/png", pngBytes, nil).Into(t, &up)
	if up.FileID == "" || up.Type != "image/png" || up.Size != int64(len(pngBytes)) || up.Name != hostile {
		t.Fatalf("upload answer %+v", up)
	}
	if up.FileDetails.ID != up.FileID || up.FileDetails.Name != hostile || up.FileDetails.Size != up.Size {
		t.Errorf("fileDetails %+v do not describe the file %+v", up.FileDetails, up)
	}

	// The agent's socket.
	var got fileDetails
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		if ev.Name != "AgentService.messageReceived" {
			return false
		}
		chatID, d, from, ok := fileMessage(t, ev)
		if ok && (chatID != c.ID || from != "Client") {
			t.Errorf("agent got a file of chat %s from %s", chatID, from)
		}
		got = d
		return ok
	})
	if got != up.FileDetails {
		t.Errorf("agent's fileDetails %+v, want %+v", got, up.FileDetails)
	}

	// The visitor's long-poll, from before the upload.
	res := c.visitor.Poll(up.Seq-1, 0)
	if len(res.Events) == 0 || res.Events[0].Name != "WebChatService.messageReceived" || res.Events[0].Seq != up.Seq {
		t.Fatalf("visitor poll after %d: %v", up.Seq-1, res.Events)
	}
	if _, d, _, ok := fileMessage(t, res.Events[0]); !ok || d != up.FileDetails {
		t.Errorf("visitor's fileDetails %+v, want %+v", d, up.FileDetails)
	}

	// Both download the same bytes, as an attachment never sniffed.
	for who, token := range map[string]string{"visitor": c.Token, "agent": g.AgentToken} {
		resp, body := download(t, g.URL, token, up.FileID)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, pngBytes) {
			t.Fatalf("%s download: HTTP %d, %d bytes", who, resp.StatusCode, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
			t.Errorf("%s download: Content-Type %q", who, ct)
		}
		if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
			t.Errorf("%s download: X-Content-Type-Options %q", who, v)
		}
		disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || params["filename"] != hostile {
			t.Errorf("%s download: Content-Disposition %q (%v), want an attachment named %q", who, resp.Header.Get("Content-Disposition"), err, hostile)
		}
	}

	// The transcript has it.
	var tr struct {
		Messages []struct {
			Type        string      `json:"type"`
			FileDetails fileDetails `json:"fileDetails"`
		} `json:"messages"`
	}
	c.visitor.Command("WebChatService.getTranscript", nil).Into(t, &tr)
	found := false
	for _, m := range tr.Messages {
		found = found || m.Type == "FileUploaded" && m.FileDetails == up.FileDetails
	}
	if !found {
		t.Errorf("transcript has no FileUploaded %+v: %+v", up.FileDetails, tr.Messages)
	}

	// The agent sends a text file back; the visitor's socket sees it.
	v := g.dialVisitor(t, c, up.Seq)
	var back uploaded
	upload(t, g.URL, g.AgentToken, "notes.txt", "text/plain", []byte("see you\n"), map[string]string{"chatId": c.ID}).Into(t, &back)
	if back.Type != "text/plain" {
		t.Errorf("agent upload type %q, want text/plain", back.Type)
	}
	v.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		_, d, from, ok := fileMessage(t, ev)
		if ok && (d.ID != back.FileID || from != "Agent") {
			t.Errorf("visitor got file %+v from %s, want %s from Agent", d, from, back.FileID)
		}
		return ok
	})
	resp, body := download(t, g.URL, c.Token, back.FileID)
	if resp.StatusCode != http.StatusOK || string(body) != "see you\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("visitor download of the agent's file: HTTP %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	// Another chat's token, an unknown id, no token.
	// Ann away, the other chat waits in the queue: not hers.
	g.ann.Command("AgentService.setStatus", map[string]any{"status": "away"}).Resolved(t)
	other := g.mustStartChat(t, "Mallory")
	for what, token := range map[string]string{"another chat's token": other.Token, "a token nobody issued": "not-a-token"} {
		resp, body := download(t, g.URL, token, up.FileID)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnauthorized || bytes.Contains(body, pngBytes[:8]) {
			t.Errorf("download with %s: HTTP %d %s", what, resp.StatusCode, body)
		}
	}
	resp, body = download(t, g.URL, other.Token, up.FileID)
	var rej wiretest.Reply
	json.Unmarshal(body, &rej)
	if resp.StatusCode != http.StatusNotFound || rej.Error == nil || rej.Error.Code != "file_not_found" {
		t.Errorf("another chat's download: HTTP %d %s, want 404 file_not_found", resp.StatusCode, body)
	}
	if resp, _ := download(t, g.URL, c.Token, "no-such-file"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown file: HTTP %d, want 404", resp.StatusCode)
	}
	if resp, _ := download(t, g.URL, "", up.FileID); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d, want 401", resp.StatusCode)
	}
	// A foreign chat is not a place to upload to either.
	wantRejected(t, "agent upload to a chat it is not in", upload(t, g.URL, g.AgentToken, "a.txt", "", []byte("hi"),
		map[string]string{"chatId": other.ID}), http.StatusForbidden, "not_participant", "")
}

// filesGateway runs the demo with deployment demo's file policy replaced.
func filesGateway(t testing.TB, files config.Files) *testGateway {
	t.Helper()
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments[0].Files = files
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	return &testGateway{Gateway: gw, guest: wiretest.NewHTTP(t, gw.URL).WithDeployment("demo"),
		ann: wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)}
}

func TestFiles_Rejections(t *testing.T) {
	t.Run("Disabled", func(t *testing.T) {
		g := filesGateway(t, config.Files{Enabled: false})
		c := g.mustStartChat(t, "Rita")
		wantRejected(t, "upload", upload(t, g.URL, c.Token, "a.png", "image/png", pngBytes, nil),
			http.StatusNotImplemented, "files_unsupported", textNoUploads)
		var lim struct {
			Enabled bool `json:"enabled"`
		}
		c.visitor.Command("WebChatService.getFileLimits", nil).Into(t, &lim)
		if lim.Enabled {
			t.Error("getFileLimits: enabled on a deployment without files")
		}
		resp, _ := download(t, g.URL, c.Token, "whatever")
		if resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("download: HTTP %d, want 501", resp.StatusCode)
		}
	})

	g := filesGateway(t, config.Files{Enabled: true, MaxBytes: 1024, MaxUploads: 2,
		Types: []string{"image/png", "text/plain"}})
	c := g.mustStartChat(t, "Rita")

	t.Run("TypeCheckedOnContent", func(t *testing.T) {
		wantRejected(t, "ELF declared image/png", upload(t, g.URL, c.Token, "cat.png", "image/png", elfBytes, nil),
			http.StatusUnsupportedMediaType, "file_type_not_allowed", "")
		wantRejected(t, "HTML declared text/plain", upload(t, g.URL, c.Token, "a.txt", "text/plain",
			[]byte("<html><script>alert(1)</script></html>"), nil), http.StatusUnsupportedMediaType, "file_type_not_allowed", "")
		wantRejected(t, "PDF not in the list", upload(t, g.URL, c.Token, "a.pdf", "application/pdf",
			[]byte("%PDF-1.4\n%...\n"), nil), http.StatusUnsupportedMediaType, "file_type_not_allowed", "")
	})

	t.Run("TooLarge", func(t *testing.T) {
		wantRejected(t, "1025 bytes", upload(t, g.URL, c.Token, "big.txt", "text/plain", bytes.Repeat([]byte("a"), 1025), nil),
			http.StatusRequestEntityTooLarge, "file_too_large", "The file is larger than the limit of 1024 bytes.")
	})

	t.Run("Empty", func(t *testing.T) {
		wantRejected(t, "no bytes", upload(t, g.URL, c.Token, "empty.txt", "text/plain", nil, nil),
			http.StatusBadRequest, "no_file", "No file provided.")
		wantRejected(t, "no file part", c.visitor.Command("WebChatService.sendFile", nil),
			http.StatusBadRequest, "no_file", "No file provided.")
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/files", strings.NewReader(`{"file":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.Token)
		wantRejected(t, "not multipart", c.visitor.Do(req), http.StatusBadRequest, "invalid_request", "")
	})

	t.Run("Count", func(t *testing.T) {
		for i := range 2 {
			upload(t, g.URL, c.Token, fmt.Sprintf("n%d.txt", i), "text/plain", []byte("note"), nil).Resolved(t)
		}
		wantRejected(t, "third upload", upload(t, g.URL, c.Token, "n3.txt", "text/plain", []byte("note"), nil),
			http.StatusConflict, "file_limit_reached", "The maximum number of files (2) for this chat has been reached.")
		var lim struct {
			Enabled    bool  `json:"enabled"`
			MaxBytes   int64 `json:"maxBytes"`
			MaxUploads int   `json:"maxUploads"`
			Uploads    int   `json:"uploads"`
		}
		c.visitor.Command("WebChatService.getFileLimits", nil).Into(t, &lim)
		if !lim.Enabled || lim.MaxBytes != 1024 || lim.MaxUploads != 2 || lim.Uploads != 2 {
			t.Errorf("getFileLimits = %+v", lim)
		}
	})

	t.Run("NoSession", func(t *testing.T) {
		ended := g.mustStartChat(t, "Eve")
		ended.visitor.Command("WebChatService.endChat", nil).Resolved(t)
		wantRejected(t, "ended chat", upload(t, g.URL, ended.Token, "a.txt", "text/plain", []byte("hi"), nil),
			http.StatusConflict, "no_active_session", "There is no active chat session.")
		wantRejected(t, "no token", upload(t, g.URL, "", "a.txt", "text/plain", []byte("hi"), nil),
			http.StatusUnauthorized, "unauthorized", "")
	})

	// A body over the upload limit is refused on its declared length, the
	// gateway goes on, and other routes keep their own limit.
	t.Run("BodyOverLimit", func(t *testing.T) {
		status, body := postDeclared(t, g.Addr, "/v1/files", c.Token, 200<<20)
		if status != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(`"file_too_large"`)) {
			t.Errorf("200 MiB upload: HTTP %d %s, want 413 file_too_large", status, body)
		}
		status, body = postDeclared(t, g.Addr, "/v1/command", c.Token, 1<<20)
		if status != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(`"too_large"`)) {
			t.Errorf("1 MiB command: HTTP %d %s, want 413 too_large", status, body)
		}
		c.visitor.Command("WebChatService.getFileLimits", nil).Resolved(t)
	})
}

// postDeclared sends headers declaring n body bytes and none of them, and
// reads the answer.
func postDeclared(t *testing.T, addr, path, token string, n int) (int, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wiretest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wiretest.Timeout))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n",
		path, addr, token, n)
	// The gateway reads no body before its route runs, and decides on the
	// declared length once the body begins: send its first 8 KiB.
	_, _ = conn.Write(bytes.Repeat([]byte("x"), min(n, 8<<10)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: read answer: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestFiles_NameFollowsType: a file named as something that runs or renders
// is stored, announced and downloaded under a name whose extension is the
// detected type's, still as an attachment.
func TestFiles_NameFollowsType(t *testing.T) {
	g := filesGateway(t, config.Files{Enabled: true, MaxBytes: 4096, MaxUploads: 10,
		Types: []string{"text/plain", "application/pdf"}})
	c := g.mustStartChat(t, "Rita")
	pdf := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"update.hta", []byte("text"), "update.txt"},
		{"invoice.pdf.bat", pdf, "invoice.pdf"},
		{"setup.js", []byte("alert(1)"), "setup.txt"},
		{"x.ps1", []byte("Get-Process"), "x.txt"},
		{"report.html", []byte("quarterly report, as text"), "report.txt"},
		{"notes.txt", []byte("kept"), "notes.txt"},
	} {
		var up uploaded
		upload(t, g.URL, c.Token, tc.name, "text/html", tc.content, nil).Into(t, &up)
		if up.Name != tc.want || up.FileDetails.Name != tc.want {
			t.Errorf("%s: upload answered name %q, fileDetails %q, want %q", tc.name, up.Name, up.FileDetails.Name, tc.want)
		}
		resp, body := download(t, g.URL, c.Token, up.FileID)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, tc.content) {
			t.Fatalf("%s: download HTTP %d %q", tc.name, resp.StatusCode, body)
		}
		disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || params["filename"] != tc.want {
			t.Errorf("%s: Content-Disposition %q, want an attachment named %q", tc.name, resp.Header.Get("Content-Disposition"), tc.want)
		}
	}
}
