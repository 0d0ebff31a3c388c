package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles the real command once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cxgate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

type gatewayProcess struct {
	cmd  *exec.Cmd
	base string
}

// unlimitedConfig is the demo setup without rate limits, so the load in
// these tests is never answered 429.
const unlimitedConfig = `
adminToken: "test-admin-token"
limits: {ratePerToken: -1, ratePerIP: -1, chatsPerIPPerMinute: -1, connectionsPerIP: -1, storeBytesPerMinute: -1}
deployments:
  - {key: demo, mode: live, queue: support, origins: ["*"]}
queues:
  - {name: support}
agents:
  - {id: ann, name: Ann, token: "ann-secret"}
`

// startBinary runs the binary on a free loopback port with the given data
// directory and waits for the line that gives its address.
func startBinary(t *testing.T, bin, data string) *gatewayProcess {
	t.Helper()
	return startBinaryWith(t, bin, data, unlimitedConfig)
}

// startBinaryWith is startBinary with a config file of the given text and
// extra environment variables ("NAME=value").
func startBinaryWith(t *testing.T, bin, data, config string, env ...string) *gatewayProcess {
	t.Helper()
	cfgPath := filepath.Join(data, "test.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath, "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "cxgate listening on "); ok {
				found <- strings.Fields(rest)[0]
			}
		}
	}()
	select {
	case base := <-found:
		return &gatewayProcess{cmd: cmd, base: base}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not print its address")
	}
	return nil
}

type reply struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
	Error  *struct {
		Code, Message string
	} `json:"error"`
}

func command(ctx context.Context, base, token, body string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/command", strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	var r reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return reply{}, err
	}
	if r.Status != "resolved" {
		return r, fmt.Errorf("rejected: %+v", r.Error)
	}
	return r, nil
}

// TestKill9KeepsAcknowledgedMessages runs the real binary, acknowledges
// messages from concurrent senders, kills it with SIGKILL mid-stream, restarts
// it on the same data directory, and checks that every acknowledged message is
// in the log with seqs from 1 and no gap or duplicate.
func TestKill9KeepsAcknowledgedMessages(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	gw := startBinary(t, bin, data)
	ctx := context.Background()

	const chats = 4
	tokens := make([]string, chats)
	for i := range tokens {
		r, err := command(ctx, gw.base, "", `{"deployment":"demo","command":"WebChatService.startChat","options":{"nickname":"k"}}`)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Token string }
		_ = json.Unmarshal(r.Data, &st)
		tokens[i] = st.Token
	}

	// Senders run until the gateway dies; each records what was acknowledged.
	duration := 400 * time.Millisecond
	if os.Getenv("CXGATE_KILL_LONG") != "" {
		duration = 5 * time.Second
	}
	var mu sync.Mutex
	acked := map[string]map[string]uint64{} // token → text → seq
	var wg sync.WaitGroup
	for c := range chats {
		// Each chat's map is made here, before its senders start: the outer
		// map is written while earlier chats' senders run.
		mine := map[string]uint64{}
		acked[tokens[c]] = mine
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					text := fmt.Sprintf("chat%d-w%d-m%d", c, w, n)
					r, err := command(ctx, gw.base, tokens[c], `{"command":"WebChatService.sendMessage","options":{"message":"`+text+`","requestId":"`+text+`"}}`)
					if err != nil {
						return // the gateway is gone
					}
					var res struct{ Seq uint64 }
					_ = json.Unmarshal(r.Data, &res)
					mu.Lock()
					mine[text] = res.Seq
					mu.Unlock()
				}
			}()
		}
	}
	time.Sleep(duration) // let load build up; the assertion does not depend on timing
	if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = gw.cmd.Wait()
	wg.Wait()

	total := 0
	for _, m := range acked {
		total += len(m)
	}
	if total == 0 {
		t.Fatal("no message was acknowledged before the kill")
	}
	t.Logf("%d messages acknowledged before SIGKILL", total)

	gw2 := startBinary(t, bin, data)
	for _, tok := range tokens {
		r, err := command(ctx, gw2.base, tok, `{"command":"WebChatService.getTranscript"}`)
		if err != nil {
			t.Fatalf("transcript after restart: %v", err)
		}
		var tr struct {
			Messages []struct {
				Index uint64
				Type  string
				Text  string
			}
		}
		if err := json.Unmarshal(r.Data, &tr); err != nil {
			t.Fatal(err)
		}
		seen := map[string]uint64{}
		for i, m := range tr.Messages {
			if m.Index != uint64(i+1) {
				t.Fatalf("transcript position %d has seq %d: a gap or a duplicate", i+1, m.Index)
			}
			if m.Type == "Message" {
				if _, dup := seen[m.Text]; dup {
					t.Fatalf("message %q stored twice", m.Text)
				}
				seen[m.Text] = m.Index
			}
		}
		for text, seq := range acked[tok] {
			got, ok := seen[text]
			if !ok {
				t.Fatalf("acknowledged message %q (seq %d) is missing after restart", text, seq)
			}
			if got != seq {
				t.Fatalf("message %q acknowledged as seq %d, stored as %d", text, seq, got)
			}
		}
		// The chat goes on after the restart, from the next seq.
		r, err = command(ctx, gw2.base, tok, `{"command":"WebChatService.sendMessage","options":{"message":"after restart"}}`)
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Seq uint64 }
		_ = json.Unmarshal(r.Data, &res)
		if want := uint64(len(tr.Messages) + 1); res.Seq != want {
			t.Fatalf("first seq after restart = %d, want %d", res.Seq, want)
		}
	}
}

// TestGracefulShutdown checks that SIGTERM stops the binary cleanly and that
// the store opens again with everything in it.
func TestGracefulShutdown(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	gw := startBinary(t, bin, data)
	ctx := context.Background()
	r, err := command(ctx, gw.base, "", `{"deployment":"demo","command":"WebChatService.startChat","options":{}}`)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Token string }
	_ = json.Unmarshal(r.Data, &st)
	if _, err := command(ctx, gw.base, st.Token, `{"command":"WebChatService.sendMessage","options":{"message":"kept"}}`); err != nil {
		t.Fatal(err)
	}
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	gw2 := startBinary(t, bin, data)
	r, err = command(ctx, gw2.base, st.Token, `{"command":"WebChatService.getTranscript"}`)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Data, []byte(`"kept"`)) {
		t.Fatalf("transcript after restart lacks the message: %s", r.Data)
	}
}

// TestBadConfigFailsAtStartup checks that an unknown key stops the binary
// with a message naming it.
func TestBadConfigFailsAtStartup(t *testing.T) {
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("addr: \"127.0.0.1:0\"\nbogusKey: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--config", path).CombinedOutput()
	if err == nil {
		t.Fatalf("started with an unknown key; output: %s", out)
	}
	if !strings.Contains(string(out), "bogusKey") {
		t.Fatalf("error does not name the key: %s", out)
	}
}
