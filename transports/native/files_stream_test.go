package native_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/store"
)

// slowUpload is a POST /v1/files written by hand on its own connection, a
// piece at a time, so a test decides how much of it the gateway has been
// sent: the form's fields come after the file part, as a native client may
// send them.
type slowUpload struct {
	conn net.Conn
	size int64 // of the file
	sent int64 // of the file
	tail string
}

const streamBoundary = "stream-test-boundary"

func startSlowUpload(t testing.TB, addr, token string, size int64, fields map[string]string) *slowUpload {
	t.Helper()
	head := "--" + streamBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n" +
		"Content-Type: text/plain\r\n\r\n"
	var tail strings.Builder
	for k, v := range fields {
		fmt.Fprintf(&tail, "\r\n--%s\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s", streamBoundary, k, v)
	}
	fmt.Fprintf(&tail, "\r\n--%s--\r\n", streamBoundary)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	length := int64(len(head)) + size + int64(tail.Len())
	req := fmt.Sprintf("POST /v1/files HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n%s",
		addr, token, streamBoundary, length, head)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return &slowUpload{conn: conn, size: size, tail: tail.String()}
}

// piece is the text the file is made of, written 64 KiB at a time.
var piece = bytes.Repeat([]byte("a line of an upload sent slowly\n"), 2048)

// send writes the file up to upTo bytes in all.
func (u *slowUpload) send(upTo int64) error {
	for u.sent < min(upTo, u.size) {
		n := min(int64(len(piece)), min(upTo, u.size)-u.sent)
		if _, err := u.conn.Write(piece[:n]); err != nil {
			return err
		}
		u.sent += n
	}
	return nil
}

// finish sends the rest of the form and reads the answer.
func (u *slowUpload) finish() (int, []byte, error) {
	if err := u.send(u.size); err != nil {
		return 0, nil, err
	}
	if _, err := io.WriteString(u.conn, u.tail); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(u.conn), nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// liveHeap is the heap in use after a collection: what the process holds.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// waitStaged waits until the store holds at least chunks staged chunks
// (the gateway has read that much of the uploads), or fails.
func waitStaged(t testing.TB, st *store.Store, cond func(files, chunks int) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, chunks, err := st.StagedCount()
		if err != nil {
			t.Fatal(err)
		}
		if cond(files, chunks) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("staged files: %d with %d chunks, never what the test waits for", files, chunks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func streamGateway(t testing.TB, uploads int) *testGateway {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Limits.UploadsPerIP, cfg.Limits.UploadsTotal = uploads, uploads
	cfg.Deployments[0].Files = config.Files{Enabled: true, MaxBytes: 10 << 20, MaxUploads: 10, Types: []string{"text/plain"}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg, NoSync: true})
	return &testGateway{Gateway: gw, guest: wiretest.NewHTTP(t, gw.URL).WithDeployment("demo"),
		ann: wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)}
}

// TestFiles_StreamedUploadsHoldBoundedMemory: eight uploads of a 10 MiB
// file at once, each sent slowly with its requestId after the file part,
// cost the gateway a few chunks each while their bodies are on the wire:
// its live heap grows by less than maxGrowth (the file held whole would be
// 8 × 10 MiB, and more while the buffer doubles). Every upload is then
// stored whole, and nothing stays staged.
func TestFiles_StreamedUploadsHoldBoundedMemory(t *testing.T) {
	const (
		n         = 8
		size      = 10 << 20
		maxGrowth = 16 << 20
	)
	g := streamGateway(t, n)
	st := g.Store()
	ups := make([]*slowUpload, n)
	for i := range ups {
		c := g.mustStartChat(t, fmt.Sprintf("v%d", i))
		ups[i] = startSlowUpload(t, g.Addr, c.Token, size, map[string]string{"requestId": fmt.Sprintf("r%d", i)})
	}
	base := liveHeap()
	var peak uint64
	// A MiB at a time for every upload, each step waited for until the
	// gateway has staged what it was sent but the last piece.
	for upTo := int64(1 << 20); upTo < size; upTo += 1 << 20 {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, u := range ups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = u.send(upTo)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		want := n * int((upTo-int64(len(piece)))/store.FileChunk)
		waitStaged(t, st, func(files, chunks int) bool { return files == n && chunks >= want })
		peak = max(peak, liveHeap())
	}
	growth := int64(peak) - int64(base)
	t.Logf("live heap: %d KiB before, %d KiB at most with %d uploads of %d MiB in flight (growth %d KiB)",
		base>>10, peak>>10, n, size>>20, growth>>10)
	if growth > maxGrowth {
		t.Errorf("live heap grew by %d bytes with %d uploads in flight, want under %d", growth, n, maxGrowth)
	}
	var wg sync.WaitGroup
	for i, u := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, err := u.finish()
			if err != nil || status != http.StatusOK {
				t.Errorf("upload %d: HTTP %d %s %v", i, status, body, err)
				return
			}
			var r struct {
				Data struct {
					Size int64  `json:"size"`
					Type string `json:"type"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &r); err != nil || r.Data.Size != size || r.Data.Type != "text/plain" {
				t.Errorf("upload %d: %s, want a text/plain file of %d bytes", i, body, size)
			}
		}()
	}
	wg.Wait()
	if files, chunks, err := st.StagedCount(); err != nil || files != 0 || chunks != 0 {
		t.Errorf("after the uploads: %d staged files, %d chunks (%v), want none", files, chunks, err)
	}
}

// TestFiles_AbortedUploadLeavesNothingStaged: an upload whose connection
// closes half way through its file leaves no staged content behind, and
// the store's sweep finds nothing left either.
func TestFiles_AbortedUploadLeavesNothingStaged(t *testing.T) {
	g := streamGateway(t, 2)
	st := g.Store()
	c := g.mustStartChat(t, "Rita")
	u := startSlowUpload(t, g.Addr, c.Token, 4<<20, nil)
	if err := u.send(2 << 20); err != nil {
		t.Fatal(err)
	}
	waitStaged(t, st, func(files, chunks int) bool { return files == 1 && chunks >= 16 })
	u.conn.Close()
	waitStaged(t, st, func(files, chunks int) bool { return files == 0 && chunks == 0 })
	if n, err := st.SweepStaged(t.Context(), time.Now().Add(store.StagedTTL)); err != nil || n != 0 {
		t.Errorf("sweep: %d staged files deleted (%v), want none left to delete", n, err)
	}
	keys, err := st.KeyCounts()
	if err != nil {
		t.Fatal(err)
	}
	if keys["file_data"] != 0 || keys["files"] != 0 {
		t.Errorf("after the aborted upload: %d file_data keys, %d files, want none", keys["file_data"], keys["files"])
	}
	// The visitor can still upload, and the aborted attempt did not count.
	var up uploaded
	upload(t, g.URL, c.Token, "a.txt", "text/plain", []byte("hello"), nil).Into(t, &up)
	if up.Size != 5 {
		t.Errorf("upload after the aborted one: %+v", up)
	}
}

// TestFiles_TooLargeDeletedAsItArrives: a visitor's file past its
// deployment's maxBytes has its staged content deleted while the rest of
// its body is still on the wire; the answer, once the form is read, is the
// usual 413 file_too_large, and nothing of it stays in the store.
func TestFiles_TooLargeDeletedAsItArrives(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	// A second deployment's larger limit lets the gateway take the body.
	cfg.Deployments[0].Files = config.Files{Enabled: true, MaxBytes: 1 << 20, MaxUploads: 10, Types: []string{"text/plain"}}
	big := cfg.Deployments[0]
	big.Key, big.Files.MaxBytes = "big", 8<<20
	cfg.Deployments = append(cfg.Deployments, big)
	gw := servertest.Start(t, servertest.Options{Config: &cfg, NoSync: true})
	g := &testGateway{Gateway: gw, guest: wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")}
	st := g.Store()
	c := g.mustStartChat(t, "Rita")
	u := startSlowUpload(t, g.Addr, c.Token, 4<<20, nil)
	if err := u.send(512 << 10); err != nil {
		t.Fatal(err)
	}
	waitStaged(t, st, func(files, chunks int) bool { return files == 1 && chunks >= 7 })
	if err := u.send(2 << 20); err != nil {
		t.Fatal(err)
	}
	// Half the file is still to be sent: the content is gone already.
	waitStaged(t, st, func(files, chunks int) bool { return files == 0 && chunks == 0 })
	status, body, err := u.finish()
	if err != nil || status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(string(body), `"file_too_large"`) || !strings.Contains(string(body), "limit of 1048576 bytes") {
		t.Fatalf("answer: HTTP %d %s %v, want 413 file_too_large naming the limit", status, body, err)
	}
	if keys, err := st.KeyCounts(); err != nil || keys["file_data"] != 0 || keys["files"] != 0 {
		t.Errorf("after the refused upload: %d file_data keys, %d files (%v), want none", keys["file_data"], keys["files"], err)
	}
}
