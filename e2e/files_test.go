package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSendFile: the page hands a file input set by the browser to
// WebChatService.sendFile; the agent's socket receives the FileUploaded
// message and the agent downloads the same bytes; the visitor's page gets
// it too, and the default chat window shows it as a download button whose
// hostile name stays text.
func TestSendFile(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	url := p.add("/files.html", testPage(gw.URL, "demo", "", "", `<input type="file" id="f">`))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw)

	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1`, "ready")
	chatID := eval[string](t, ctx, startChatJS)
	if got := agent.assigned(); got != chatID {
		t.Fatalf("agent got chat %s, want %s", got, chatID)
	}

	// Browsers percent-encode quotes in multipart file names: none here.
	name := `<img src=x onerror=window.__pwned=1>.png`
	content := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0x42}, 300)...)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("f"), []string{path}))

	sent := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.sendFile', {files: document.getElementById('f')}))
  .then(function (r) { if (!r.ok) throw new Error('sendFile: ' + JSON.stringify(r.value)); return r.value; })`)
	fileID, _ := sent["fileId"].(string)
	if fileID == "" || sent["type"] != "image/png" || sent["name"] != name {
		t.Fatalf("sendFile resolved %v", sent)
	}

	// The agent hears of it, with Genesys' fileDetails.
	data := agent.next("AgentService.messageReceived", func(d json.RawMessage) bool {
		return bytes.Contains(d, []byte(`"FileUploaded"`))
	})
	var ev struct {
		ChatID   string `json:"chatId"`
		Messages []struct {
			Type        string         `json:"type"`
			FileDetails map[string]any `json:"fileDetails"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ChatID != chatID || len(ev.Messages) != 1 || ev.Messages[0].FileDetails["file-id"] != fileID ||
		ev.Messages[0].FileDetails["file-name"] != name || ev.Messages[0].FileDetails["file-size"] != float64(len(content)) {
		t.Fatalf("agent event %s", data)
	}

	// The agent downloads the same bytes.
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/v1/files/"+fileID, nil)
	req.Header.Set("Authorization", "Bearer "+gw.AgentToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("agent download: HTTP %d, %d bytes, want %d", resp.StatusCode, len(got), len(content))
	}

	// The page has the message, and can fetch the file itself.
	waitJS(t, ctx, `window.__events.some(function (e) { return e.event === 'WebChatService.messageReceived' &&
  e.data.messages.some(function (m) { return m.type === 'FileUploaded' && m.fileDetails['file-id'] === `+jsString(fileID)+`; }); })`, "the FileUploaded message on the page")
	status := eval[int](t, ctx, `fetch(`+jsString(gw.URL+"/v1/files/"+fileID)+`).then(function (r) { return r.status; })`)
	if status != http.StatusUnauthorized {
		t.Errorf("download without the chat token: HTTP %d, want 401", status)
	}
	dl := eval[map[string]any](t, ctx, `window.__settle(window.__rec.command('WebChatService.downloadFile', {fileId: `+jsString(fileID)+`}))`)
	if dl["ok"] != true {
		t.Errorf("downloadFile: %v", dl)
	}

	// The default window: an attach button, and the file (a PNG the browser
	// cannot decode: its preview falls back) as a card whose name is text.
	eval[any](t, ctx, `window.__settle(window.__rec.command('WebChat.open'))`)
	waitJS(t, ctx, `document.querySelector('.cxgw-attach') && !document.querySelector('.cxgw-attach').hidden`, "the attach button")
	waitJS(t, ctx, `document.querySelector('.cxgw-file .cxgw-card .cxgw-fname') !== null`, "the file card in the window")
	shown := eval[string](t, ctx, `document.querySelector('.cxgw-file .cxgw-fname').textContent`)
	if shown != name {
		t.Errorf("file card name %q, want %q", shown, name)
	}
	if eval[bool](t, ctx, `!!document.querySelector('.cxgw-log img') || window.__pwned === 1`) {
		t.Error("the file name was rendered as HTML, or a broken image kept")
	}
	screenshot(t, ctx, "file-window")
}
