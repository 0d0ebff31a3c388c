package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// runBinary runs the binary to its end: exit code, stdout, stderr.
func runBinary(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	// A gateway that starts when it should not is killed, not waited for.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// startChatAndSend starts a chat on gw and sends texts in it; it returns the
// chat's token.
func startChatAndSend(t *testing.T, gw *gatewayProcess, texts ...string) string {
	t.Helper()
	ctx := context.Background()
	r, err := command(ctx, gw.base, "", `{"deployment":"demo","command":"WebChatService.startChat","options":{"nickname":"s"}}`)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Token string }
	_ = json.Unmarshal(r.Data, &st)
	for _, text := range texts {
		if _, err := command(ctx, gw.base, st.Token, `{"command":"WebChatService.sendMessage","options":{"message":"`+text+`"}}`); err != nil {
			t.Fatal(err)
		}
	}
	return st.Token
}

// stopBinary stops gw with SIGTERM and waits for it.
func stopBinary(t *testing.T, gw *gatewayProcess) {
	t.Helper()
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = gw.cmd.Wait()
}

// logRootPage is the page holding the root of the store's event log: a
// page every start reads.
func logRootPage(t *testing.T, path string) (page int64, pageSize int, used int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error { page, used = int64(tx.Bucket([]byte("log")).Root()), tx.Size(); return nil })
	if page < 2 {
		t.Fatalf("the log bucket is inline (root %d): write more", page)
	}
	return page, db.Info().PageSize, used
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedStore: each way a store file was found broken stops the real
// binary with exit code 1 and a message naming the file, never a panic or a
// fault; `cxgate check` lists the problem and exits 1, and 0 on the intact
// file.
func TestDamagedStore(t *testing.T) {
	bin := buildBinary(t)
	golden := t.TempDir()
	gw := startBinary(t, bin, golden)
	for i := range 12 {
		startChatAndSend(t, gw, fmt.Sprintf("chat %d: %s", i, strings.Repeat("words ", 20)), "two", "three")
	}
	stopBinary(t, gw)
	dbPath := filepath.Join(golden, "cxgate.db")
	golden0, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runBinary(t, bin, "check", "--data", golden); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("check of the intact store: exit %d, %s%s", code, out, errOut)
	}
	page, ps, used := logRootPage(t, dbPath)

	damages := map[string]func(path string){
		"flipped page header": func(path string) { writeAt(t, path, page*int64(ps)+8, []byte{0xff}) },
		"64 random bytes": func(path string) {
			junk := make([]byte, 64)
			r := rand.New(rand.NewPCG(3, 4))
			for i := range junk {
				junk[i] = byte(r.UintN(256))
			}
			writeAt(t, path, page*int64(ps)+16, junk)
		},
		"zeroed page": func(path string) { writeAt(t, path, page*int64(ps), make([]byte, ps)) },
		"truncated file": func(path string) {
			// Cut into the pages in use (the file is longer: bbolt grows it
			// ahead of them).
			if err := os.Truncate(path, used/2/int64(ps)*int64(ps)); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			path := filepath.Join(data, "cxgate.db")
			if err := os.WriteFile(path, golden0, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "test.yaml"), []byte(unlimitedConfig), 0o600); err != nil {
				t.Fatal(err)
			}
			damage(path)
			code, out, errOut := runBinary(t, bin, "--config", filepath.Join(data, "test.yaml"), "--addr", "127.0.0.1:0", "--data", data)
			if code != 1 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "damaged") ||
				strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine") {
				t.Fatalf("start on a damaged store: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
			}
			t.Logf("start: %s", strings.TrimSpace(errOut))
			code, out, errOut = runBinary(t, bin, "check", "--data", data)
			if code != 1 || !strings.Contains(out, path+" is damaged") || strings.Contains(errOut+out, "panic") {
				t.Fatalf("check of a damaged store: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
		})
	}
}

// TestBackup: GET /v1/admin/backup of a running gateway under writes gives
// an attachment that passes `cxgate check` and, started on, holds every
// message acknowledged before the backup was asked for; it needs the admin
// token.
func TestBackup(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	gw := startBinary(t, bin, data)
	ctx := context.Background()
	token := startChatAndSend(t, gw, "before-0", "before-1", "before-2")
	// A running gateway's file is not checked in place.
	if code, out, errOut := runBinary(t, bin, "check", "--data", data); code != 1 || !strings.Contains(errOut, "in use") {
		t.Errorf("check of a running gateway's store: exit %d, %s%s", code, out, errOut)
	}

	// Writers keep going during the backup.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := startChatAndSend(t, gw)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := command(ctx, gw.base, tok, fmt.Sprintf(`{"command":"WebChatService.sendMessage","options":{"message":"w%d-%d"}}`, w, n)); err != nil {
					t.Errorf("send during backup: %v", err)
					return
				}
			}
		}()
	}
	get := func(auth string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, gw.base+"/v1/admin/backup", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tok := range []string{"", "ann-secret", token} {
		resp := get(tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("backup with token %q: HTTP %d, want 401", tok, resp.StatusCode)
		}
	}
	resp := get("test-admin-token")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	close(stop)
	wg.Wait()
	if err != nil || resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("backup: HTTP %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
	if disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err != nil || disp != "attachment" ||
		!strings.HasSuffix(params["filename"], ".db") || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("backup headers: Content-Disposition %q, Content-Type %q", resp.Header.Get("Content-Disposition"), resp.Header.Get("Content-Type"))
	}

	restored := t.TempDir()
	if err := os.WriteFile(filepath.Join(restored, "cxgate.db"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runBinary(t, bin, "check", "--data", restored); code != 0 {
		t.Fatalf("check of the backup: exit %d, %s%s", code, out, errOut)
	}
	gw2 := startBinary(t, bin, restored)
	r, err := command(ctx, gw2.base, token, `{"command":"WebChatService.getTranscript"}`)
	if err != nil {
		t.Fatalf("transcript from the backup: %v", err)
	}
	var tr struct{ Messages []struct{ Type, Text string } }
	_ = json.Unmarshal(r.Data, &tr)
	var texts []string
	for _, m := range tr.Messages {
		if m.Type == "Message" {
			texts = append(texts, m.Text)
		}
	}
	if strings.Join(texts, ",") != "before-0,before-1,before-2" {
		t.Fatalf("the backup's transcript has %q, want the three acknowledged messages", texts)
	}
}
