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
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README's shell examples must work as written. TestReadmeExamples
// extracts the ```sh blocks of the sections below by heading, points their
// base URL at a real gateway, runs them with bash -euo pipefail and real
// curl, and checks what they print against the README's output comments and
// against what each section promises.

// readmeSection returns the ```sh blocks of the README section whose heading
// text is title, joined in order. The section ends at the next heading of the
// same or a higher level; lines inside fences are never headings.
func readmeSection(t *testing.T, readme, title string) string {
	t.Helper()
	var blocks []string
	level := 0 // of the section once found
	fence := ""
	var cur []string
	for line := range strings.SplitSeq(readme, "\n") {
		if fence != "" {
			if strings.HasPrefix(line, "```") {
				if fence == "sh" && level > 0 {
					blocks = append(blocks, strings.Join(cur, "\n")+"\n")
				}
				fence, cur = "", nil
				continue
			}
			cur = append(cur, line)
			continue
		}
		if lang, ok := strings.CutPrefix(line, "```"); ok {
			fence = strings.TrimSpace(lang)
			if fence == "" {
				fence = "plain"
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			text := strings.TrimSpace(line[hashes:])
			if level > 0 && hashes <= level {
				break
			}
			if level == 0 && text == title {
				level = hashes
			}
		}
	}
	if level == 0 {
		t.Fatalf("README has no section %q", title)
	}
	if len(blocks) == 0 {
		t.Fatalf("README section %q has no ```sh block", title)
	}
	return strings.Join(blocks, "")
}

// curlCall is one curl invocation of a block, in source order: its command
// text (with continuation lines), the output comment that follows it in the
// README (if any), and what it wrote to stdout when the block ran.
type curlCall struct {
	cmd    string
	expect string
	out    []byte
}

var curlInvocation = regexp.MustCompile(`(^|\$\(|[|;&]\s*)\s*curl\s`)

// curlCalls lists the curl invocations of a script with the output comments
// that follow them. An output comment is a run of comment lines whose first
// starts with JSON or a number; prose comments are skipped.
func curlCalls(script string) []*curlCall {
	var calls []*curlCall
	var last *curlCall
	continuing := false
	inQuote := false // inside a single-quoted string that spans lines
	inOutput := false
	for line := range strings.SplitSeq(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if c, ok := strings.CutPrefix(trimmed, "#"); ok {
			c = strings.TrimPrefix(c, " ")
			if last != nil && (inOutput || (last.expect == "" && looksLikeOutput(c))) {
				if last.expect != "" {
					last.expect += "\n"
				}
				last.expect += c
				inOutput = true
			}
			continuing = false
			continue
		}
		inOutput = false
		switch {
		case curlInvocation.MatchString(line):
			last = &curlCall{cmd: line}
			calls = append(calls, last)
		case continuing && last != nil:
			last.cmd += "\n" + line
		}
		if strings.Count(line, "'")%2 == 1 {
			inQuote = !inQuote
		}
		continuing = inQuote || strings.HasSuffix(trimmed, `\`)
	}
	return calls
}

func looksLikeOutput(comment string) bool {
	c := strings.TrimSpace(comment)
	return c != "" && (strings.ContainsRune("{[\"", rune(c[0])) || (c[0] >= '0' && c[0] <= '9'))
}

// curlShim records each curl invocation's stdout in $CURL_LOG while passing
// it through unchanged; the real curl does the work.
const curlShim = `#!/usr/bin/env bash
set -o pipefail
n=$(( $(ls "$CURL_LOG" | wc -l) + 1 ))
"$REAL_CURL" "$@" | tee "$CURL_LOG/$(printf %04d "$n")"
`

// runBlock runs script with bash -euo pipefail in dir, with curl recorded,
// and returns its curl invocations with their outputs.
func runBlock(t *testing.T, script, dir string, env ...string) []*curlCall {
	t.Helper()
	realCurl := requireTool(t, "curl")
	bash := requireTool(t, "bash")
	shimDir := t.TempDir()
	logDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(shimDir, "curl"), []byte(curlShim), 0o755); err != nil {
		t.Fatal(err)
	}
	scriptPath := filepath.Join(t.TempDir(), "block.sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", scriptPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PATH="+shimDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"REAL_CURL="+realCurl, "CURL_LOG="+logDir)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("block failed: %v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", err, script, stdout.String(), stderr.String())
	}
	t.Logf("stdout:\n%s", stdout.String())

	calls := curlCalls(script)
	logs, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != len(calls) {
		t.Fatalf("block ran curl %d times, its text has %d curl commands", len(logs), len(calls))
	}
	for i, c := range calls {
		if c.out, err = os.ReadFile(filepath.Join(logDir, logs[i].Name())); err != nil {
			t.Fatal(err)
		}
		checkOutputComment(t, c)
	}
	return calls
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not on PATH; the README examples need it (CI=true)", name)
		}
		t.Skipf("%s is not on PATH: skipping the README examples", name)
	}
	return path
}

var commentPair = regexp.MustCompile(`"([^"\\]+)":("(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?|true|false|null|\[\])`)

// volatileKeys hold times, which differ on every run.
var volatileKeys = map[string]bool{"utcTime": true, "timestamp": true, "createdAt": true}

// checkOutputComment compares a call's output with the README comment that
// shows it: exactly when the comment is JSON with nothing elided, otherwise every
// "key":value pair of the comment that is not elided (…), a placeholder
// (<…>) or a time must occur in the output.
func checkOutputComment(t *testing.T, c *curlCall) {
	t.Helper()
	if c.expect == "" {
		return
	}
	got, err := decodeFirst(c.out)
	if err != nil {
		t.Fatalf("output of\n%s\nis not JSON (%v): %q", c.cmd, err, c.out)
	}
	if json.Valid([]byte(c.expect)) && !strings.Contains(c.expect, "…") {
		want, _ := decodeFirst([]byte(c.expect))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("output of\n%s\n= %s\nthe README shows %s", c.cmd, bytes.TrimSpace(c.out), c.expect)
		}
		return
	}
	have := map[string]bool{}
	collectPairs(got, have)
	for _, m := range commentPair.FindAllStringSubmatch(c.expect, -1) {
		key, raw := m[1], m[2]
		if volatileKeys[key] || strings.Contains(raw, "…") || strings.HasPrefix(raw, `"<`) {
			continue
		}
		v, err := decodeFirst([]byte(raw))
		if err != nil {
			t.Fatalf("README comment value %s: %v", raw, err)
		}
		if !have[pairKey(key, v)] {
			t.Errorf("output of\n%s\nhas no %s:%s that the README shows; output: %s", c.cmd, key, raw, bytes.TrimSpace(c.out))
		}
	}
}

func decodeFirst(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func pairKey(key string, v any) string {
	if a, ok := v.([]any); ok && len(a) == 0 {
		return key + "=[]"
	}
	return fmt.Sprintf("%s=%T:%v", key, v, v)
}

func collectPairs(v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			switch e := e.(type) {
			case map[string]any:
				collectPairs(e, into)
			case []any:
				if len(e) == 0 {
					into[pairKey(k, e)] = true
				}
				collectPairs(e, into)
			default:
				into[pairKey(k, e)] = true
			}
		}
	case []any:
		for _, e := range v {
			collectPairs(e, into)
		}
	}
}

// find returns the only call whose command contains every part.
func find(t *testing.T, calls []*curlCall, parts ...string) *curlCall {
	t.Helper()
	var found []*curlCall
	for _, c := range calls {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(c.cmd, p)
		}
		if all {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d curl commands contain %q, want 1", len(found), parts)
	}
	return found[0]
}

// findAll returns the calls whose command contains part.
func findAll(calls []*curlCall, part string) []*curlCall {
	var found []*curlCall
	for _, c := range calls {
		if strings.Contains(c.cmd, part) {
			found = append(found, c)
		}
	}
	return found
}

// option returns the text a command passes as option key, in JSON
// ("key":"…") or as a form field (key='…').
func option(t *testing.T, c *curlCall, key string) string {
	t.Helper()
	re := regexp.MustCompile(`"` + key + `":"([^"]*)"|` + key + `='([^']*)'`)
	m := re.FindStringSubmatch(c.cmd)
	if m == nil {
		t.Fatalf("command\n%s\npasses no %s", c.cmd, key)
	}
	return m[1] + m[2]
}

func decodeOut(t *testing.T, c *curlCall, into any) {
	t.Helper()
	if err := json.Unmarshal(bytes.TrimSpace(c.out), into); err != nil {
		t.Fatalf("output of\n%s\n: %v: %q", c.cmd, err, c.out)
	}
}

// startGateway runs the binary with args plus a free loopback address and a
// fresh data directory, and returns its base URL once it listens.
func startGateway(t *testing.T, bin string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	args = append(args, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "stderr.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("gateway log:\n%s", b)
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "cxgate listening on "); ok {
				found <- strings.Fields(rest)[0]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case base := <-found:
		return base
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not print its address")
	}
	return ""
}

// pointAt rewrites the README's gateway address to base's, and only that.
func pointAt(t *testing.T, script, base string) string {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	out := strings.NewReplacer("127.0.0.1:8080", host, "localhost:8080", host).Replace(script)
	if strings.Contains(out, ":8080") {
		t.Fatalf("block still names port 8080 after the rewrite:\n%s", out)
	}
	return out
}

// minimalPDF is a valid one-page PDF.
func minimalPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	var offsets []int
	for i, o := range objs {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// wantAccepted checks that Ann's acceptChat of a block resolved: routing runs
// in the background after the start, and the block must work whether it gave
// her the chat before her accept or not.
func wantAccepted(t *testing.T, calls []*curlCall) {
	t.Helper()
	accept := find(t, calls, "AgentService.acceptChat")
	var r reply
	decodeOut(t, accept, &r)
	if r.Status != "resolved" {
		t.Fatalf("Ann's acceptChat: %s", accept.out)
	}
}

type nativeEvents struct {
	Events []struct {
		Event string
		Seq   uint64
		Data  struct {
			Messages []struct {
				Type string
				Text string
				From struct{ Name, Type string }
			}
		}
	}
}

// texts returns "type:text" of every message in the events.
func (e nativeEvents) texts() map[string]bool {
	m := map[string]bool{}
	for _, ev := range e.Events {
		for _, msg := range ev.Data.Messages {
			if msg.Type == "Message" {
				m[msg.From.Type+":"+msg.Text] = true
			}
		}
	}
	return m
}

func TestReadmeExamples(t *testing.T) {
	requireTool(t, "curl")
	requireTool(t, "bash")
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	bin := buildBinary(t)

	t.Run("CompleteChatWithCurl", func(t *testing.T) {
		base := startGateway(t, bin)
		calls := runBlock(t, pointAt(t, readmeSection(t, readme, "A complete chat with curl"), base), t.TempDir())

		var start reply
		decodeOut(t, find(t, calls, "WebChatService.startChat"), &start)
		var st struct{ ChatID, Token string }
		_ = json.Unmarshal(start.Data, &st)
		if start.Status != "resolved" || st.ChatID == "" || st.Token == "" {
			t.Fatalf("startChat: %s %s", start.Status, start.Data)
		}
		wantAccepted(t, calls)
		send := find(t, calls, "WebChatService.sendMessage")
		answer := find(t, calls, "AgentService.sendMessage")
		visitorText, annText := option(t, send, "message"), option(t, answer, "message")
		var sent, answered struct {
			Status string
			Data   struct{ Seq uint64 }
		}
		decodeOut(t, send, &sent)
		decodeOut(t, answer, &answered)
		if sent.Status != "resolved" || sent.Data.Seq != 3 || answered.Status != "resolved" || answered.Data.Seq != 4 {
			t.Fatalf("visitor's message %+v, Ann's %+v; the README says seq 3 and 4", sent, answered)
		}

		var all nativeEvents
		decodeOut(t, find(t, calls, "/v1/events?after=0"), &all)
		if got := all.texts(); !got["Client:"+visitorText] || !got["Agent:"+annText] {
			t.Fatalf("events after 0 lack the visitor's or Ann's message: %v", got)
		}
		var resumed nativeEvents
		decodeOut(t, find(t, calls, "/v1/events?after=3"), &resumed)
		if len(resumed.Events) == 0 {
			t.Fatal("events after 3: none")
		}
		for _, ev := range resumed.Events {
			if ev.Seq != 4 {
				t.Fatalf("events after 3 include seq %d (%s), want only seq 4", ev.Seq, ev.Event)
			}
		}
		if got := resumed.texts(); len(got) != 1 || !got["Agent:"+annText] {
			t.Fatalf("events after 3 carry %v, want only Ann's answer", got)
		}

		ends := findAll(calls, "WebChatService.endChat")
		if len(ends) != 2 {
			t.Fatalf("%d endChat commands, want 2", len(ends))
		}
		var first reply
		decodeOut(t, ends[0], &first)
		if first.Status != "resolved" {
			t.Fatalf("first endChat: %s", ends[0].out)
		}
		if ends[1].expect == "" {
			t.Fatal("the README shows no output for the second endChat")
		}
		// checkOutputComment compared it exactly.
	})

	t.Run("GMSChatAPIv2", func(t *testing.T) {
		base := startGateway(t, bin)
		calls := runBlock(t, pointAt(t, readmeSection(t, readme, "GMS Chat API v2"), base), t.TempDir())

		type gms struct {
			StatusCode int
			ChatEnded  bool
			Messages   []struct {
				Index int
				Type  string
				Text  string
				From  struct{ Nickname, Type string }
			}
			Errors []struct {
				Code   int
				Advice string
			}
		}
		wantAccepted(t, calls)
		sends := findAll(calls, "/send")
		if len(sends) != 2 {
			t.Fatalf("%d send commands, want 2", len(sends))
		}
		visitorText := option(t, sends[0], "message")
		annText := option(t, find(t, calls, "AgentService.sendMessage"), "message")
		var refresh gms
		decodeOut(t, find(t, calls, "/refresh"), &refresh)
		texts := map[string]bool{}
		for _, m := range refresh.Messages {
			if m.Type == "Message" {
				texts[m.From.Type+":"+m.Text] = true
			}
		}
		if refresh.StatusCode != 0 || !texts["Client:"+visitorText] || !texts["Agent:"+annText] {
			t.Fatalf("refresh: statusCode %d, messages %v; want both messages", refresh.StatusCode, texts)
		}
		var disc gms
		decodeOut(t, find(t, calls, "/disconnect"), &disc)
		if disc.StatusCode != 0 || !disc.ChatEnded {
			t.Fatalf("disconnect: %s", find(t, calls, "/disconnect").out)
		}
		var late gms
		decodeOut(t, sends[1], &late)
		if !late.ChatEnded || len(late.Errors) != 1 || late.Errors[0].Code != 249 ||
			late.Errors[0].Advice != "There is no active chat session." {
			t.Fatalf("send after disconnect: %s", sends[1].out)
		}
	})

	t.Run("GenesysCloudGuestChatV2", func(t *testing.T) {
		base := startGateway(t, bin)
		calls := runBlock(t, pointAt(t, readmeSection(t, readme, "Genesys Cloud guest chat v2"), base), t.TempDir())

		var conv struct {
			ID, JWT string
			Member  struct{ ID, DisplayName, State string }
		}
		decodeOut(t, find(t, calls, "-X POST $A/conversations -H"), &conv)
		if conv.ID == "" || conv.JWT == "" || conv.Member.ID == "" || conv.Member.State != "CONNECTED" {
			t.Fatalf("create conversation: %+v", conv)
		}
		post := find(t, calls, "/messages -H")
		var msg struct{ ID, Body string }
		decodeOut(t, post, &msg)
		if msg.Body != option(t, post, "body") {
			t.Fatalf("posted message: %s", post.out)
		}
		var list struct {
			Entities []struct{ ID, Body string }
		}
		decodeOut(t, find(t, calls, "sortOrder=descending"), &list)
		if len(list.Entities) == 0 || list.Entities[0].ID != msg.ID {
			t.Fatalf("messages, newest first, do not start with the posted one: %+v", list.Entities)
		}
		if del := find(t, calls, "-X DELETE"); strings.TrimSpace(string(del.out)) != "204" {
			t.Fatalf("DELETE member printed %q, want 204", del.out)
		}
	})

	t.Run("Files", func(t *testing.T) {
		base := startGateway(t, bin)
		r, err := command(context.Background(), base, "", `{"deployment":"demo","command":"WebChatService.startChat","options":{"nickname":"Jonny"}}`)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Token string }
		_ = json.Unmarshal(r.Data, &st)
		dir := t.TempDir()
		pdf := minimalPDF()
		if err := os.WriteFile(filepath.Join(dir, "invoice.pdf"), pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		calls := runBlock(t, pointAt(t, readmeSection(t, readme, "Files"), base), dir, "TOKEN="+st.Token)

		var up struct {
			Status string
			Data   struct{ FileID, Name, Type string }
		}
		decodeOut(t, find(t, calls, "-F file=@invoice.pdf"), &up)
		if up.Status != "resolved" || up.Data.FileID == "" || up.Data.Name != "invoice.pdf" || up.Data.Type != "application/pdf" {
			t.Fatalf("upload: %+v", up)
		}
		// The download is a file in the working directory with the same bytes.
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		downloaded := false
		for _, e := range entries {
			if e.Name() == "invoice.pdf" {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && bytes.Equal(b, pdf) {
				downloaded = true
			}
		}
		if !downloaded {
			t.Fatalf("no downloaded copy of invoice.pdf in the working directory: %v", entries)
		}
	})

	t.Run("AdminAPI", func(t *testing.T) {
		// The block uses the example file's admin token.
		base := startGateway(t, bin, "--config", filepath.Join("..", "..", "testdata", "cxgate.example.yaml"))
		calls := runBlock(t, pointAt(t, readmeSection(t, readme, "Admin API"), base), t.TempDir())
		for _, c := range calls {
			var r reply
			decodeOut(t, c, &r)
			if r.Status != "resolved" {
				t.Fatalf("%s\n→ %s", c.cmd, c.out)
			}
		}
		var bob struct{ Data struct{ Token string } }
		decodeOut(t, find(t, calls, `"id":"bob"`), &bob)
		if bob.Data.Token == "" {
			t.Fatal("creating an agent without a token returned none")
		}
		// The changes are in force: the deployment was replaced, bob is gone.
		get := func(path string) (int, []byte) {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			req.Header.Set("Authorization", "Bearer change-me")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		if code, b := get("/v1/admin/deployments/shop"); code != http.StatusOK || !bytes.Contains(b, []byte(`"https://www.shop.example"`)) {
			t.Fatalf("deployment shop after PUT: %d %s", code, b)
		}
		if code, b := get("/v1/admin/agents/bob"); code == http.StatusOK {
			t.Fatalf("agent bob still there after DELETE: %s", b)
		}
	})
}
