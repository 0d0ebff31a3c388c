package gms_test

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
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// A PNG signature and header: what http.DetectContentType calls image/png.
var pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")

// An ELF executable's first bytes: application/octet-stream.
var elfBytes = append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), bytes.Repeat([]byte{0}, 64)...)

// postMultipart posts fields, and a part "file" named name unless name is
// "", as the widget's FormData does.
func postMultipart(t testing.TB, url_ string, fields url.Values, name string, content []byte) (*http.Response, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			if err := w.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if name != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": name}))
		h.Set("Content-Type", "application/octet-stream")
		part, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		part.Write(content)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url_, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
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

// sendFile uploads a file over GMS and reads the envelope.
func (c gmsChat) sendFile(t testing.TB, name string, content []byte, kv ...string) envelope {
	t.Helper()
	resp, body := postMultipart(t, c.base+"file", c.form(kv...), name, content)
	return envelopeOf(t, resp, body)
}

func envelopeOf(t testing.TB, resp *http.Response, body []byte) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: HTTP %d, body %q is not JSON: %v", resp.Request.URL.Path, resp.StatusCode, body, err)
	}
	e.raw, e.status, e.header = string(body), resp.StatusCode, resp.Header
	return e
}

// wantFileError checks a GMS file rejection: HTTP 400 and one error.
func wantFileError(t testing.TB, what string, e envelope, code int, advice string) {
	t.Helper()
	if e.status != http.StatusBadRequest || e.StatusCode != 2 || len(e.Errors) != 1 ||
		e.Errors[0].Code != code || (advice != "" && e.Errors[0].Advice != advice) {
		t.Errorf("%s: HTTP %d %s, want HTTP 400 with code %d advice %q", what, e.status, e.raw, code, advice)
	}
}

// TestFiles_OverGMS: a file uploaded over GMS reaches the agent and the
// transcript with GMS's file details, /file/limits answers the deployment's
// policy in GMS's keys, the download answers the bytes as an attachment,
// and the policy's rejections carry GMS's codes 203, 202 and 201 with their
// advice. Uploads may exceed the gateway's body limit up to the file limit.
func TestFiles_OverGMS(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments[0].Files = config.Files{Enabled: true, MaxBytes: 200 << 10, MaxUploads: 2,
		Types: []string{"image/png", "image/jpeg", "text/plain"}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	c, first := requestChat(t, gw.URL)
	sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })

	// The limits, before any upload.
	lim := mustOK(t, c.op(t, "file/limits"))
	if len(lim.Messages) != 1 || lim.Messages[0].Type != "Notice" || lim.Messages[0].Text != "file-client-cfg-get" {
		t.Fatalf("limits: %s", lim.raw)
	}
	want := map[string]any{"upload-max-files": "2", "upload-max-file-size": "204800", "upload-max-total-size": "409600",
		"upload-file-types": "png:jpeg:jpg:txt", "upload-need-agent": "false", "used-upload-max-files": "0"}
	if got := lim.Messages[0].UserData; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("limits userData %v, want %v", got, want)
	}

	// A PNG larger than the gateway's body limit (64 KiB), within the
	// deployment's 200 KiB.
	png := append(bytes.Clone(pngHead), bytes.Repeat([]byte{7}, 100<<10)...)
	up := mustOK(t, c.sendFile(t, "shot.png", png))
	fileID := up.UserData["file-id"]
	if fileID == "" || up.UserData["file-name"] != "shot.png" || up.UserData["file-size"] != strconv.Itoa(len(png)) ||
		up.ChatID != first.ChatID || up.SecureKey != first.SecureKey {
		t.Fatalf("upload: %s", up.raw)
	}

	// The agent receives the FileUploaded message.
	var got []wiretest.Message
	sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		if ev.Name == "AgentService.messageReceived" {
			got = ev.Messages(t)
		}
		return len(got) > 0 && got[0].Type == "FileUploaded"
	})
	if len(got) == 0 || got[0].Type != "FileUploaded" || got[0].Text != "shot.png" || got[0].From.Type != "Client" {
		t.Fatalf("agent's messageReceived: %+v", got)
	}

	// The transcript shows it with GMS's file details, every value a string.
	all := mustOK(t, c.op(t, "refresh", "transcriptPosition", "1"))
	var file *gmsMsg
	for i, m := range all.Messages {
		if m.Type == "FileUploaded" {
			file = &all.Messages[i]
		}
	}
	if file == nil {
		t.Fatalf("refresh: no FileUploaded in %q", describe(all.Messages))
	}
	wantDetails := map[string]any{"file-name": "shot.png", "file-size": strconv.Itoa(len(png)), "file-id": fileID, "file-type": "image/png"}
	if fmt.Sprint(file.UserData) != fmt.Sprint(wantDetails) || file.From.ParticipantID != 1 || file.Text != "shot.png" {
		t.Fatalf("FileUploaded %+v, want userData %v", *file, wantDetails)
	}
	if lim := mustOK(t, c.op(t, "file/limits")); lim.Messages[0].UserData["used-upload-max-files"] != "1" {
		t.Errorf("limits after one upload: %s", lim.raw)
	}

	// The download: the widget's form POST.
	resp, body := postMultipart(t, c.base+"file/"+fileID+"/download", c.form(), "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, png) {
		t.Fatalf("download: HTTP %d, %d bytes, want the %d uploaded", resp.StatusCode, len(body), len(png))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=shot.png" {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct, nosniff := resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"); ct != "image/png" || nosniff != "nosniff" {
		t.Errorf("download headers: Content-Type %q, X-Content-Type-Options %q", ct, nosniff)
	}
	resp, body = postMultipart(t, c.base+"file/nosuchfile/download", c.form(), "", nil)
	if e := envelopeOf(t, resp, body); e.status != http.StatusNotFound || e.Errors[0].Code != 404 {
		t.Errorf("download of an unknown file: HTTP %d %s", e.status, e.raw)
	}

	// A wrong secureKey: GMS's authorization error, on every file route.
	unauthorized := `"errors":[{"code":401,"advice":"Cannot authorize the session: userId, secureKey and alias must be those of the chat."}]}`
	resp, body = postMultipart(t, c.base+"file/"+fileID+"/download", c.form("secureKey", "not-the-key"), "", nil)
	for _, e := range []envelope{
		c.sendFile(t, "shot.png", png, "secureKey", "not-the-key"),
		envelopeOf(t, resp, body),
		post(t, c.base+"file/limits", c.form("secureKey", "not-the-key")),
	} {
		if e.status != http.StatusUnauthorized || !strings.HasSuffix(e.raw, unauthorized) {
			t.Errorf("wrong secureKey: HTTP %d %s", e.status, e.raw)
		}
	}

	// The policy's rejections.
	wantFileError(t, "an executable named .png", c.sendFile(t, "cat.png", elfBytes), 203, "")
	wantFileError(t, "300 KiB", c.sendFile(t, "big.txt", bytes.Repeat([]byte("a"), 300<<10)), 202, "204800")
	mustOK(t, c.sendFile(t, "notes.txt", []byte("two files now")))
	wantFileError(t, "a third file", c.sendFile(t, "three.txt", []byte("one too many")), 201, "2")
	// Over the gateway's upload limit, the body is refused on its declared
	// length, in the same terms.
	wantFileError(t, "11 MiB declared", postDeclared(t, gw.Addr, strings.TrimPrefix(c.base, gw.URL)+"file", 11<<20), 202, "204800")

	// No deleting.
	if e := c.op(t, "file/"+fileID+"/delete"); e.status != http.StatusNotImplemented || e.Errors[0].Code != 501 {
		t.Errorf("delete: HTTP %d %s", e.status, e.raw)
	}
}

// postDeclared sends the headers of an upload declaring an n-byte body and
// reads the answer, which comes after the first 8 KiB of the body.
func postDeclared(t *testing.T, addr, path string, n int) envelope {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wiretest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wiretest.Timeout))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n",
		path, addr, n)
	// The gateway reads no body before its route runs, and decides on the
	// declared length once the body begins: send its first 8 KiB.
	_, _ = conn.Write(bytes.Repeat([]byte("x"), min(n, 8<<10)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: read answer: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: HTTP %d, body %q is not JSON: %v", path, resp.StatusCode, body, err)
	}
	e.raw, e.status = string(body), resp.StatusCode
	return e
}

// TestFiles_OverGMS_NameFollowsType: over GMS too, a text file named as a
// script is announced and downloaded under the text type's extension.
func TestFiles_OverGMS_NameFollowsType(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments[0].Files = config.Files{Enabled: true, MaxBytes: 4096, MaxUploads: 5, Types: []string{"text/plain"}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	c, _ := requestChat(t, gw.URL)
	for name, want := range map[string]string{"update.hta": "update.txt", "report.html": "report.txt", "x.ps1": "x.txt"} {
		up := mustOK(t, c.sendFile(t, name, []byte("plain words")))
		if up.UserData["file-name"] != want {
			t.Errorf("%s: upload answered file-name %q, want %q", name, up.UserData["file-name"], want)
		}
		resp, _ := postMultipart(t, c.base+"file/"+up.UserData["file-id"]+"/download", c.form(), "", nil)
		if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != http.StatusOK || cd != "attachment; filename="+want {
			t.Errorf("%s: download HTTP %d, Content-Disposition %q, want an attachment named %s", name, resp.StatusCode, cd, want)
		}
	}
}

// TestFiles_OverGMS_NothingStaged: GMS uploads stream to the store like
// native ones; a refused one (too large, a wrong secureKey) leaves none of
// its content behind, an accepted one exactly its own.
func TestFiles_OverGMS_NothingStaged(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments[0].Files = config.Files{Enabled: true, MaxBytes: 200 << 10, MaxUploads: 2, Types: []string{"text/plain"}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	c, _ := requestChat(t, gw.URL)
	wantFileError(t, "300 KiB", c.sendFile(t, "big.txt", bytes.Repeat([]byte("a"), 300<<10)), 202, "204800")
	if e := c.sendFile(t, "a.txt", bytes.Repeat([]byte("b"), 100<<10), "secureKey", "not-the-key"); e.status != http.StatusUnauthorized {
		t.Errorf("wrong secureKey: HTTP %d %s", e.status, e.raw)
	}
	mustOK(t, c.sendFile(t, "ok.txt", bytes.Repeat([]byte("c"), 100<<10)))
	files, chunks, err := gw.Store().StagedCount()
	if err != nil || files != 0 || chunks != 0 {
		t.Errorf("%d staged files, %d chunks (%v), want none", files, chunks, err)
	}
	if keys, err := gw.Store().KeyCounts(); err != nil || keys["file_data"] != 2 || keys["files"] != 1 {
		t.Errorf("%d file_data keys, %d files (%v), want the accepted file's 2 chunks and 1", keys["file_data"], keys["files"], err)
	}
}

// postFileFirst posts a multipart form whose file part comes before the
// fields, and reads the envelope.
func postFileFirst(t testing.TB, url_ string, fields url.Values, content []byte) envelope {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="first.txt"`)
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(content)
	for k, vs := range fields {
		for _, v := range vs {
			if err := w.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url_, w.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return envelopeOf(t, resp, body)
}

// TestFiles_OverGMS_FileFirstStaged: a form with its file before its
// secureKey is staged before it can be authenticated; a wrong key deletes
// the staged content, a right one keeps the file.
func TestFiles_OverGMS_FileFirstStaged(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments[0].Files = config.Files{Enabled: true, MaxBytes: 200 << 10, MaxUploads: 2, Types: []string{"text/plain"}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	c, _ := requestChat(t, gw.URL)
	content := bytes.Repeat([]byte("d"), 100<<10)
	if e := postFileFirst(t, c.base+"file", c.form("secureKey", "not-the-key"), content); e.status != http.StatusUnauthorized {
		t.Errorf("wrong secureKey after the file: HTTP %d %s", e.status, e.raw)
	}
	up := mustOK(t, postFileFirst(t, c.base+"file", c.form(), content))
	if up.UserData["file-size"] != strconv.Itoa(len(content)) {
		t.Errorf("upload with the file first: %s", up.raw)
	}
	files, chunks, err := gw.Store().StagedCount()
	if err != nil || files != 0 || chunks != 0 {
		t.Errorf("%d staged files, %d chunks (%v), want none", files, chunks, err)
	}
	if keys, err := gw.Store().KeyCounts(); err != nil || keys["file_data"] != 2 || keys["files"] != 1 {
		t.Errorf("%d file_data keys, %d files (%v), want the accepted file's 2 chunks and 1", keys["file_data"], keys["files"], err)
	}
}
