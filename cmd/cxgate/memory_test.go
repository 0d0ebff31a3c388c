package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memoryConfig is the demo setup with files on and every limit at its
// default: the limits are what is measured.
const memoryConfig = `
adminToken: "test-admin-token"
deployments:
  - {key: demo, mode: live, queue: support, origins: ["*"], files: {enabled: true}}
queues:
  - {name: support}
agents:
  - {id: ann, name: Ann, token: "ann-secret"}
`

// vmRSS reads a process's resident set size from /proc, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// peakRSS is the highest of a few samples of the process's resident size,
// each after a request the gateway answered: by then it has read the
// headers of every connection opened before.
func peakRSS(t *testing.T, pid int, base string) int64 {
	t.Helper()
	var peak int64
	for range 20 {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		peak = max(peak, vmRSS(t, pid))
	}
	return peak
}

// Memory the gateway may take per connection that sent an upload's headers
// and nothing else (a fasthttp read buffer, the request, an 8 KiB body
// prefetch, a goroutine: about 24 KiB measured), and the runtime's slack.
const (
	perConnBound = 64 << 10
	slackBound   = 16 << 20
)

// TestUploadHeadersReserveNoMemory repeats the attack of declared upload
// lengths against the real binary: 100 connections send the headers of
// uploads declaring 10,551,000 bytes (with a chat token, without one, and
// over GMS) and nothing more. Before, each reserved the declared length
// (1.6 GB resident); now the resident size may grow by at most 64 KiB per
// connection plus 16 MiB. Then each token-bearing connection sends 8 KiB of
// its body: all but limits.uploadsPerIP of them are refused with 429 before
// more is read.
func TestUploadHeadersReserveNoMemory(t *testing.T) {
	bin := buildBinary(t)
	gw := startBinaryWith(t, bin, t.TempDir(), memoryConfig)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	started, err := command(ctx, gw.base, "", `{"deployment":"demo","command":"WebChatService.startChat","options":{"nickname":"Mallory"}}`)
	if err != nil {
		t.Fatal(err)
	}
	chatID, token := field(started.Data, "chatId"), field(started.Data, "token")
	if chatID == "" || token == "" {
		t.Fatalf("startChat: %s", started.Data)
	}
	addr := strings.TrimPrefix(gw.base, "http://")
	pid := gw.cmd.Process.Pid
	before := peakRSS(t, pid, gw.base)

	const n, declared = 100, 10551000
	var conns []net.Conn
	var withToken []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		path, auth := "/v1/files", ""
		switch i % 3 {
		case 0:
			auth = "Authorization: Bearer " + token + "\r\n"
			withToken = append(withToken, c)
		case 2:
			path = "/genesys/2/chat/demo/" + chatID + "/file"
		}
		if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n",
			path, addr, auth, declared); err != nil {
			t.Fatal(err)
		}
	}
	after := peakRSS(t, pid, gw.base)
	bound := int64(n*perConnBound + slackBound)
	t.Logf("resident: %d KiB before, %d KiB with %d connections holding upload headers (bound: growth ≤ %d KiB)",
		before>>10, after>>10, n, bound>>10)
	if after-before > bound {
		t.Fatalf("resident size grew by %d KiB under %d upload headers, bound %d KiB", (after-before)>>10, n, bound>>10)
	}

	// The token-bearing uploads begin their bodies: two (limits.uploadsPerIP)
	// are read, the others refused with 429 at once.
	prefix := "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n"
	chunk := append([]byte(prefix), bytes.Repeat([]byte("a"), 8<<10-len(prefix))...)
	answers := make(chan int, len(withToken))
	for _, c := range withToken {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return // a connection still uploading, closed at the end
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
	}
	for range len(withToken) - 2 {
		select {
		case code := <-answers:
			if code != http.StatusTooManyRequests {
				t.Fatalf("an upload past limits.uploadsPerIP: HTTP %d, want 429", code)
			}
		case <-ctx.Done():
			t.Fatal("uploads past limits.uploadsPerIP were not all refused")
		}
	}
	final := peakRSS(t, pid, gw.base)
	t.Logf("resident: %d KiB with two uploads reading", final>>10)
	if final-before > bound {
		t.Fatalf("resident size grew by %d KiB, bound %d KiB", (final-before)>>10, bound>>10)
	}
}

// field reads a string field of a JSON object without a schema.
func field(data []byte, name string) string {
	_, rest, ok := bytes.Cut(data, []byte(`"`+name+`":"`))
	if !ok {
		return ""
	}
	v, _, _ := bytes.Cut(rest, []byte(`"`))
	return string(v)
}

// procKiB reads a field of a process's /proc status ("RssAnon"), in bytes.
func procKiB(t *testing.T, pid int, key string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", key, rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc status", key)
	return 0
}

// peakAnon is as peakRSS, of the anonymous resident memory alone: what the
// process itself holds. The store's pages the kernel keeps mapped (RssFile)
// are its page cache, shared and reclaimable.
func peakAnon(t *testing.T, pid int, base string) int64 {
	t.Helper()
	var peak int64
	for range 20 {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		peak = max(peak, procKiB(t, pid, "RssAnon"))
	}
	return peak
}

// TestUploadsStreamInBoundedMemory: eight visitors upload a 10 MiB file at
// once to the real binary, slowly, a MiB at a time each. The gateway writes
// each file to the store as it arrives, so while they are in flight its
// anonymous resident memory grows by at most uploadGrowthBound, far below
// the 80 MiB of the files (held whole, as before, they grew it by more than
// that). Each step waits until the store file has grown by what was sent:
// the gateway has read it, not the kernel's socket buffers.
func TestUploadsStreamInBoundedMemory(t *testing.T) {
	const (
		n                 = 8
		size              = 10 << 20
		uploadGrowthBound = 32 << 20
	)
	bin := buildBinary(t)
	data := t.TempDir()
	gw := startBinaryWith(t, bin, data, memoryConfig+"limits: {uploadsPerIP: 8, uploadsTotal: 8, storeBytesPerMinute: -1}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := strings.TrimPrefix(gw.base, "http://")
	dbPath := filepath.Join(data, "cxgate.db")
	const boundary = "stream-boundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	conns := make([]net.Conn, n)
	for i := range conns {
		started, err := command(ctx, gw.base, "", fmt.Sprintf(`{"deployment":"demo","command":"WebChatService.startChat","options":{"nickname":"v%d"}}`, i))
		if err != nil {
			t.Fatal(err)
		}
		token := field(started.Data, "token")
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "POST /v1/files HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n%s",
			addr, token, boundary, len(head)+size+len(tail), head); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	pid := gw.cmd.Process.Pid
	before := peakAnon(t, pid, gw.base)
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	dbBefore := fi.Size()
	piece := bytes.Repeat([]byte("a line of an upload sent slowly\n"), 1<<15) // 1 MiB
	peak := before
	for sent := 1; sent < size>>20; sent++ {
		for _, c := range conns {
			if _, err := c.Write(piece); err != nil {
				t.Fatal(err)
			}
		}
		// The store holds what was sent but the last MiB of each.
		for {
			fi, err := os.Stat(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size()-dbBefore >= int64(n*(sent-1))<<20 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("the store grew by %d bytes, never by the %d MiB sent", fi.Size()-dbBefore, n*(sent-1))
			}
			time.Sleep(20 * time.Millisecond)
		}
		peak = max(peak, peakAnon(t, pid, gw.base))
	}
	t.Logf("anonymous resident: %d KiB before, %d KiB at most with %d uploads of %d MiB in flight (bound: growth ≤ %d KiB)",
		before>>10, peak>>10, n, size>>20, uploadGrowthBound>>10)
	if peak-before > uploadGrowthBound {
		t.Errorf("anonymous resident memory grew by %d KiB with %d uploads in flight, bound %d KiB", (peak-before)>>10, n, uploadGrowthBound>>10)
	}
	for i, c := range conns {
		if _, err := c.Write(append(bytes.Clone(piece), tail...)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("upload %d: HTTP %d, want 200", i, resp.StatusCode)
		}
	}
}
