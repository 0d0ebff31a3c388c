package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/internal/natstest"
	"github.com/cxgate/cxgate/internal/pgtest"
	"github.com/cxgate/cxgate/internal/wiretest"
)

// clusterConfig is the one file every node of the cluster tests reads: a
// live deployment, a queue that lets chats wait, human agents with seats, a
// supervisor, and no rate limits (the load would otherwise be answered 429).
const clusterConfig = `
adminToken: "test-admin-token"
limits: {ratePerToken: -1, ratePerIP: -1, chatsPerIPPerMinute: -1, connectionsPerIP: -1, storeBytesPerMinute: -1}
deployments:
  - {key: demo, mode: live, queue: support, origins: ["*"]}
queues:
  - {name: support, whenNoAgents: queue}
agents:
  - {id: a1, name: Agent1, token: "a1-secret", maxChats: 4}
  - {id: a2, name: Agent2, token: "a2-secret", maxChats: 4}
  - {id: a3, name: Agent3, token: "a3-secret", maxChats: 4}
  - {id: a4, name: Agent4, token: "a4-secret", maxChats: 4}
  - {id: a5, name: Agent5, token: "a5-secret", maxChats: 4}
  - {id: a6, name: Agent6, token: "a6-secret", maxChats: 4}
  - {id: sup, name: Sue, token: "sup-secret", supervisor: true}
`

// clusterNode is one gateway process of a test cluster.
type clusterNode struct {
	name string
	base string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	log  string // its stderr
	dead atomic.Bool
	exit chan struct{} // closed when the process ended
}

func (n *clusterNode) wsURL() string { return "ws" + strings.TrimPrefix(n.base, "http") + "/v1/ws" }

// kill ends the process with SIGKILL and waits for it.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	n.dead.Store(true)
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", n.name, err)
	}
	<-n.exit
}

// testCluster is three (or more) gateways on one PostgreSQL database and one
// NATS server.
type testCluster struct {
	nodes []*clusterNode
	nats  *natstest.Server
}

// startCluster builds the binary and starts n nodes one after the other (the
// first seeds the shared directory from the file).
func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	pg := pgtest.New(t)
	pgURL := pg.Database(t) // a fresh database, dropped when the test ends
	ns := natstest.New(t)
	bin := buildBinary(t)
	cfgDir := t.TempDir()
	cfgPath := filepath.Join(cfgDir, "cluster.yaml")
	if err := os.WriteFile(cfgPath, []byte(clusterConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{nats: ns}
	logs := t.TempDir()
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		node := &clusterNode{name: name, log: filepath.Join(logs, name+".log"), exit: make(chan struct{})}
		logf, err := os.Create(node.log)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--config", cfgPath, "--addr", "127.0.0.1:0", "--data", t.TempDir(),
			"--postgres", pgURL, "--nats", ns.URL(), "--node", name)
		cmd.Stderr = logf
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		node.cmd = cmd
		go func() { _ = cmd.Wait(); logf.Close(); close(node.exit) }()
		// Registered before the tail-printer below runs (cleanups run last
		// first): the logs are printed while the processes still run, and the
		// processes are killed after.
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-node.exit })
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
		case node.base = <-found:
		case <-node.exit:
			t.Fatalf("node %s exited at start:\n%s", name, tail(node.log, 30))
		case <-time.After(60 * time.Second):
			t.Fatalf("node %s did not print its address:\n%s", name, tail(node.log, 30))
		}
		c.nodes = append(c.nodes, node)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range c.nodes {
			t.Logf("---- last lines of node %s's log (%s, dead=%v) ----\n%s", n.name, n.log, n.dead.Load(), tail(n.log, 60))
		}
	})
	return c
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var leaderLine = regexp.MustCompile(`(?m)^cxgate_cluster_leader\{node="([^"]+)"\} (\S+)`)

// leads reads a node's /metrics and reports whether it says it leads.
func (n *clusterNode) leads() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/metrics", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer test-admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	for _, m := range leaderLine.FindAllStringSubmatch(string(body), -1) {
		if m[1] == n.name {
			return m[2] == "1", nil
		}
	}
	return false, fmt.Errorf("%s: no cxgate_cluster_leader line in /metrics (HTTP %d)", n.name, resp.StatusCode)
}

// wsConn is a socket client of the native wire that never fails the test by
// itself: a dead gateway is an error to handle, as a real client would.
type wsConn struct {
	conn   *websocket.Conn
	wmu    sync.Mutex
	nextID atomic.Int64

	mu      sync.Mutex
	pending map[string]chan wiretest.Reply

	events chan wiretest.Event
	done   chan struct{} // closed when the reader stopped
	err    error         // why, read after done
}

func dialWS(url string) (*wsConn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &wsConn{conn: conn, pending: map[string]chan wiretest.Reply{},
		events: make(chan wiretest.Event, 1<<14), done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *wsConn) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		var f struct {
			wiretest.Reply
			Event string `json:"event"`
			Seq   uint64 `json:"seq"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			c.err = fmt.Errorf("frame is not JSON: %q", data)
			c.conn.Close()
			return
		}
		if f.Event != "" {
			c.events <- wiretest.Event{Name: f.Event, Seq: f.Seq, Data: f.Data}
			continue
		}
		if f.ID == nil {
			continue // a pong
		}
		r := f.Reply
		r.Body = bytes.Clone(data)
		c.mu.Lock()
		ch := c.pending[string(r.ID)]
		delete(c.pending, string(r.ID))
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

func (c *wsConn) close() { c.conn.Close(); <-c.done }

// roundTrip sends one frame with the given id and waits for its reply.
func (c *wsConn) roundTrip(id string, frame []byte, timeout time.Duration) (wiretest.Reply, error) {
	ch := make(chan wiretest.Reply, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	err := c.conn.WriteMessage(websocket.TextMessage, frame)
	c.wmu.Unlock()
	if err != nil {
		return wiretest.Reply{}, fmt.Errorf("write: %w", err)
	}
	select {
	case r := <-ch:
		if r.Status != "resolved" {
			return r, fmt.Errorf("rejected: %s", r.Body)
		}
		return r, nil
	case <-c.done:
		return wiretest.Reply{}, fmt.Errorf("socket ended before reply %s: %w", id, c.err)
	case <-time.After(timeout):
		return wiretest.Reply{}, fmt.Errorf("no reply %s within %v", id, timeout)
	}
}

func (c *wsConn) auth(token string, after uint64) (wiretest.Reply, error) {
	frame, _ := json.Marshal(map[string]any{"id": 0, "auth": map[string]any{"token": token, "after": after}})
	return c.roundTrip("0", frame, 15*time.Second)
}

func (c *wsConn) command(name string, options any) (wiretest.Reply, error) {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	frame, err := json.Marshal(map[string]any{"id": json.RawMessage(id), "command": name, "options": options})
	if err != nil {
		return wiretest.Reply{}, err
	}
	return c.roundTrip(id, frame, 20*time.Second)
}

// startVisitorChat starts a chat over HTTP on base and returns its token
// and id.
func startVisitorChat(t *testing.T, base, nickname string) (token, chatID string) {
	t.Helper()
	r := wiretest.NewHTTP(t, base).WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": nickname})
	var st struct{ Token, ChatID string }
	r.Into(t, &st)
	if st.Token == "" || st.ChatID == "" {
		t.Fatalf("startChat on %s: %s", base, r.Body)
	}
	return st.Token, st.ChatID
}

// heldMessage is one message of the chat as a client holds it.
type heldMessage struct {
	Index    uint64 `json:"index"`
	Type     string `json:"type"`
	Text     string `json:"text"`
	Internal bool   `json:"internal"`
}

// chatView is what one client holds of one chat: the messages its sockets
// delivered plus those it read by seq to fill after a (re)connection.
type chatView struct {
	who    string
	chatID string

	mu       sync.Mutex
	held     map[uint64]heldMessage
	connSeen map[uint64]bool // seqs the current socket delivered
	problems []string
	changed  chan struct{} // closed and replaced at every addition
}

func newChatView(who, chatID string) *chatView {
	return &chatView{who: who, chatID: chatID, held: map[uint64]heldMessage{}, connSeen: map[uint64]bool{}, changed: make(chan struct{})}
}

// newConnection starts a connection's record: a seq may come once per
// connection.
func (v *chatView) newConnection() {
	v.mu.Lock()
	v.connSeen = map[uint64]bool{}
	v.mu.Unlock()
}

func (v *chatView) add(m heldMessage, fromSocket bool, conn string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if fromSocket {
		if v.connSeen[m.Index] {
			v.problems = append(v.problems, fmt.Sprintf("%s: socket on %s delivered seq %d twice (%q)", v.who, conn, m.Index, m.Text))
		}
		v.connSeen[m.Index] = true
	}
	if old, ok := v.held[m.Index]; ok {
		if old.Text != m.Text || old.Type != m.Type {
			v.problems = append(v.problems, fmt.Sprintf("%s: seq %d is %s %q and %s %q", v.who, m.Index, old.Type, old.Text, m.Type, m.Text))
		}
		return
	}
	v.held[m.Index] = m
	close(v.changed)
	v.changed = make(chan struct{})
}

func (v *chatView) maxSeq() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var top uint64
	for s := range v.held {
		top = max(top, s)
	}
	return top
}

// waitFor waits until the view holds seq, or the timeout.
func (v *chatView) waitFor(seq uint64, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		v.mu.Lock()
		_, ok := v.held[seq]
		ch := v.changed
		v.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// sortedSeqs lists the held seqs in order.
func (v *chatView) sortedSeqs() []uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]uint64, 0, len(v.held))
	for s := range v.held {
		out = append(out, s)
	}
	slicesSort(out)
	return out
}

func slicesSort(s []uint64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// consume reads a socket's events into the view until it ends; agent
// streams' positions go to pos and their other events to onAgent.
func (v *chatView) consume(c *wsConn, conn string, pos *atomic.Uint64, onAgent func(wiretest.Event)) {
	for {
		var ev wiretest.Event
		select {
		case ev = <-c.events:
		case <-c.done:
			select {
			case ev = <-c.events:
			default:
				return
			}
		}
		if pos != nil && ev.Seq > pos.Load() {
			pos.Store(ev.Seq)
		}
		switch ev.Name {
		case "WebChatService.messageReceived":
			var d struct{ Messages []heldMessage }
			_ = json.Unmarshal(ev.Data, &d)
			for _, m := range d.Messages {
				if m.Index != ev.Seq {
					v.mu.Lock()
					v.problems = append(v.problems, fmt.Sprintf("%s: event seq %d carries message index %d", v.who, ev.Seq, m.Index))
					v.mu.Unlock()
				}
				v.add(m, true, conn)
			}
		case "AgentService.messageReceived":
			var d struct {
				ChatID   string
				Messages []heldMessage
			}
			_ = json.Unmarshal(ev.Data, &d)
			if d.ChatID == v.chatID {
				for _, m := range d.Messages {
					v.add(m, true, conn)
				}
			}
		}
		if onAgent != nil {
			onAgent(ev)
		}
	}
}

// fillFromTranscript reads the chat's messages over the wire (agents and
// supervisors: AgentService.getTranscript) and adds those after seq.
func (v *chatView) fillFromTranscript(c *wsConn, after uint64) (lastSeq uint64, err error) {
	r, err := c.command("AgentService.getTranscript", map[string]any{"chatId": v.chatID})
	if err != nil {
		return 0, err
	}
	var tr struct {
		Chat     struct{ LastSeq uint64 }
		Messages []heldMessage
	}
	if err := json.Unmarshal(r.Data, &tr); err != nil {
		return 0, err
	}
	for _, m := range tr.Messages {
		if m.Index > after {
			v.add(m, false, "")
		}
	}
	return tr.Chat.LastSeq, nil
}

// sender sends messages until stop or an error, recording each acknowledged
// one; the message in flight at an error is returned as unacknowledged.
type sender struct {
	mu      sync.Mutex
	acked   []heldMessage // in the order acknowledged
	unacked []string
	n       int
}

func (s *sender) run(c *wsConn, prefix, command string, extra map[string]any, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		s.mu.Lock()
		s.n++
		text := fmt.Sprintf("%s-%d", prefix, s.n)
		s.mu.Unlock()
		if err := s.send(c, text, command, extra); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond) // a chat's pace, not a flood
	}
}

func (s *sender) send(c *wsConn, text, command string, extra map[string]any) error {
	opts := map[string]any{"message": text, "requestId": fmt.Sprintf("req-%s-%016d", text, time.Now().UnixNano()%1e16)}
	for k, v := range extra {
		opts[k] = v
	}
	r, err := c.command(command, opts)
	if err != nil {
		s.mu.Lock()
		s.unacked = append(s.unacked, text)
		s.mu.Unlock()
		return fmt.Errorf("%s %q: %w", command, text, err)
	}
	var res struct{ Seq uint64 }
	_ = json.Unmarshal(r.Data, &res)
	s.mu.Lock()
	s.acked = append(s.acked, heldMessage{Index: res.Seq, Text: text})
	s.mu.Unlock()
	return nil
}

// TestClusterSurvivesNodeKill: a visitor on node 1, its agent on node 2 and
// a silent supervisor on node 3 while both sides send; node 2 dies with
// SIGKILL and the agent goes on on node 3. Every client ends up holding every
// acknowledged message once, in order, with the chat's seqs contiguous.
func TestClusterSurvivesNodeKill(t *testing.T) {
	cl := startCluster(t, 3)
	n1, n2, n3 := cl.nodes[0], cl.nodes[1], cl.nodes[2]

	// The visitor: started over HTTP on node 1, then a socket there.
	vToken, chatID := startVisitorChat(t, n1.base, "Rita")
	visitor := newChatView("visitor@n1", chatID)
	vc, err := dialWS(n1.wsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer vc.close()
	if _, err := vc.auth(vToken, 0); err != nil {
		t.Fatal(err)
	}
	go visitor.consume(vc, "n1", nil, nil)

	// The agent on node 2: online, waits for the chat.
	agent := newChatView("agent a1", chatID)
	var agentPos atomic.Uint64
	assigned := make(chan uint64, 4)
	onAgent := func(ev wiretest.Event) {
		if ev.Name == "AgentService.chatAssigned" {
			var d struct{ ChatID string }
			_ = json.Unmarshal(ev.Data, &d)
			if d.ChatID == chatID {
				assigned <- ev.Seq
			}
		}
	}
	ac, err := dialWS(n2.wsURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.auth("a1-secret", 0); err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); agent.consume(ac, "n2", &agentPos, onAgent) }()
	if _, err := ac.command("AgentService.setStatus", map[string]any{"status": "online"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-assigned:
	case <-time.After(30 * time.Second):
		t.Fatalf("chat %s was not assigned to a1 within 30 s", chatID)
	}
	// What came before the agent joined, by seq.
	if _, err := agent.fillFromTranscript(ac, 0); err != nil {
		t.Fatal(err)
	}

	// The supervisor on node 3 joins silently.
	sup := newChatView("supervisor@n3", chatID)
	var supPos atomic.Uint64
	sc, err := dialWS(n3.wsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.close()
	if _, err := sc.auth("sup-secret", 0); err != nil {
		t.Fatal(err)
	}
	go sup.consume(sc, "n3", &supPos, nil)
	if _, err := sc.command("AgentService.joinChat", map[string]any{"chatId": chatID, "silent": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sup.fillFromTranscript(sc, 0); err != nil {
		t.Fatal(err)
	}

	// Both sides send; node 2 dies meanwhile.
	stop := make(chan struct{})
	var vs, as sender
	visitorErr := make(chan error, 1)
	go func() {
		visitorErr <- vs.run(vc, "visitor", "WebChatService.sendMessage", nil, stop)
	}()
	agentErr := make(chan error, 1)
	go func() {
		agentErr <- as.run(ac, "agent", "AgentService.sendMessage", map[string]any{"chatId": chatID}, stop)
	}()
	time.Sleep(1500 * time.Millisecond) // let both sides send; nothing below depends on timing
	as.mu.Lock()
	ackedBeforeKill := len(as.acked)
	as.mu.Unlock()
	n2.kill(t)
	killedAt := time.Now()
	select {
	case err := <-agentErr:
		t.Logf("agent's sender on n2 stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent's sender still running 30 s after node 2 died")
	}
	<-agentDone // its socket's events are all in the view
	t.Logf("agent: %d messages acknowledged on n2 before the kill, %d in all there; unacknowledged: %v", ackedBeforeKill, len(as.acked), as.unacked)

	// The agent reconnects to node 3 with its last position.
	lastHeld := agent.maxSeq()
	ac3, err := dialWS(n3.wsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer ac3.close()
	agent.newConnection()
	if _, err := ac3.auth("a1-secret", agentPos.Load()); err != nil {
		t.Fatal(err)
	}
	t.Logf("agent reconnected to n3 %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	n2Pos := agentPos.Load()
	var resync *wiretest.Event
	select {
	case ev := <-ac3.events:
		if ev.Name != "AgentService.resync" {
			t.Errorf("first event on n3 after resuming from n2's position %d: %s %s, want AgentService.resync", n2Pos, ev, ev.Data)
		} else {
			resync = &ev
			agentPos.Store(ev.Seq)
		}
	case <-time.After(10 * time.Second):
	}
	go agent.consume(ac3, "n3", &agentPos, nil)
	r, err := ac3.command("AgentService.listChats", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resync == nil {
		// Diagnosis: n3's stream head (listChats' seq) against the position
		// the client resumed from. The resync event carries n3's head as its
		// seq; a socket skips every unit whose seq is not above the client's
		// position, so a head below n2's position is never written.
		var lc struct{ Seq uint64 }
		wiretest.Decode(t, r.Data, &lc)
		t.Errorf("no AgentService.resync on n3 within 10 s of resuming from n2's position %d (epoch %d); n3's agent stream head is %d (epoch %d): %s",
			n2Pos, n2Pos>>32, lc.Seq, lc.Seq>>32, map[bool]string{true: "below the resumed position, so the resync event (seq = head) is skipped as already seen", false: "above the resumed position"}[lc.Seq < n2Pos])
	}
	if !bytes.Contains(r.Data, []byte(chatID)) {
		t.Fatalf("listChats on n3 after the reconnection lacks chat %s: %s", chatID, r.Data)
	}
	if _, err := agent.fillFromTranscript(ac3, lastHeld); err != nil {
		t.Fatal(err)
	}
	go func() {
		agentErr <- as.run(ac3, "agent", "AgentService.sendMessage", map[string]any{"chatId": chatID}, stop)
	}()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	for _, ch := range []chan error{visitorErr, agentErr} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("sender: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a sender did not stop")
		}
	}

	// One final message from each side.
	if err := vs.send(vc, "visitor-final", "WebChatService.sendMessage", nil); err != nil {
		t.Fatal(err)
	}
	if err := as.send(ac3, "agent-final", "AgentService.sendMessage", map[string]any{"chatId": chatID}); err != nil {
		t.Fatal(err)
	}
	final := max(vs.acked[len(vs.acked)-1].Index, as.acked[len(as.acked)-1].Index)
	t.Logf("visitor: %d acknowledged; agent: %d acknowledged, unacknowledged %v; last seq %d",
		len(vs.acked), len(as.acked), as.unacked, final)

	// The truth: the chat's transcript, read by the supervisor on node 3.
	r, err = sc.command("AgentService.getTranscript", map[string]any{"chatId": chatID})
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Chat     struct{ LastSeq uint64 }
		Messages []heldMessage
	}
	wiretest.Decode(t, r.Data, &tr)
	internal := map[uint64]bool{}
	for i, m := range tr.Messages {
		if m.Index != uint64(i+1) {
			t.Errorf("transcript position %d has seq %d: seqs of the chat are not contiguous", i+1, m.Index)
		}
		if m.Internal {
			internal[m.Index] = true
		}
	}
	if n := uint64(len(tr.Messages)); n != tr.Chat.LastSeq {
		t.Errorf("transcript has %d messages, the chat's lastSeq is %d", n, tr.Chat.LastSeq)
	}
	last := tr.Chat.LastSeq

	for _, v := range []*chatView{visitor, agent, sup} {
		if !v.waitFor(final, 15*time.Second) {
			t.Errorf("%s does not hold seq %d (the final messages) after 15 s; holds up to %d", v.who, final, v.maxSeq())
		}
	}
	// Let anything wrongly delivered after the end arrive too.
	time.Sleep(500 * time.Millisecond)

	check := func(v *chatView, wantInternal bool) {
		t.Helper()
		v.mu.Lock()
		for _, p := range v.problems {
			t.Error(p)
		}
		v.mu.Unlock()
		seqs := v.sortedSeqs()
		var want []uint64
		for s := uint64(1); s <= last; s++ {
			if wantInternal || !internal[s] {
				want = append(want, s)
			}
		}
		if fmt.Sprint(seqs) != fmt.Sprint(want) {
			t.Errorf("%s holds seqs %s, want %s", v.who, describeSeqs(seqs), describeSeqs(want))
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		count := map[string]int{}
		for _, m := range v.held {
			if m.Type == "Message" {
				count[m.Text]++
			}
		}
		var missing, twice []string
		for _, s := range []*sender{&vs, &as} {
			var prev uint64
			for _, a := range s.acked {
				switch n := count[a.Text]; {
				case n == 0:
					missing = append(missing, fmt.Sprintf("%s#%d", a.Text, a.Index))
					continue
				case n > 1:
					twice = append(twice, fmt.Sprintf("%s#%d×%d", a.Text, a.Index, n))
				}
				if m := v.held[a.Index]; m.Text != a.Text {
					t.Errorf("%s: acknowledged %q as seq %d, holds %q there", v.who, a.Text, a.Index, m.Text)
				}
				if a.Index <= prev {
					t.Errorf("%s: %q acknowledged as seq %d after seq %d", v.who, a.Text, a.Index, prev)
				}
				prev = a.Index
			}
			if len(missing)+len(twice) > 0 {
				t.Errorf("%s: of %d acknowledged messages, %d missing (first: %v) and %d held more than once (first: %v)",
					v.who, len(s.acked), len(missing), missing[:min(5, len(missing))], len(twice), twice[:min(5, len(twice))])
				missing, twice = nil, nil
			}
			for _, u := range s.unacked {
				if count[u] > 1 {
					t.Errorf("%s holds the unacknowledged %q %d times", v.who, u, count[u])
				}
				t.Logf("%s: unacknowledged %q held %d times", v.who, u, count[u])
			}
		}
	}
	check(visitor, false)
	check(agent, true)
	check(sup, true)

	// The agent kept the chat, and is still online, on node 3.
	r, err = ac3.command("AgentService.listChats", nil)
	if err != nil {
		t.Fatal(err)
	}
	var lc struct {
		Status string
		Chats  []struct{ ChatID string }
	}
	wiretest.Decode(t, r.Data, &lc)
	if len(lc.Chats) != 1 || lc.Chats[0].ChatID != chatID || lc.Status != "online" {
		t.Errorf("agent after the reconnection: %s, want online with chat %s", r.Data, chatID)
	}
	for _, c := range []*wsConn{vc, sc} {
		select {
		case <-c.done:
			t.Errorf("a socket of a surviving node ended: %v", c.err)
		default:
		}
	}
}

// describeSeqs prints a seq list compactly: runs as a-b.
func describeSeqs(s []uint64) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if i == j {
			fmt.Fprintf(&b, "%d", s[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", s[i], s[j])
		}
		i = j + 1
	}
	return "[" + b.String() + "]"
}

// waitLeader polls the nodes' /metrics until one of the live ones says it
// leads, and returns it with the time it took.
func waitLeader(nodes []*clusterNode, timeout time.Duration) (*clusterNode, time.Duration) {
	start := time.Now()
	for time.Since(start) < timeout {
		for _, n := range nodes {
			if n.dead.Load() {
				continue
			}
			if ok, err := n.leads(); err == nil && ok {
				return n, time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, time.Since(start)
}

// waitingVisitor is one visitor of the leader test: it holds its socket,
// moves to another node when its node dies, and notes when an agent joins.
type waitingVisitor struct {
	token, chatID string
	node          int // index of the node its socket is on

	lastSeq    atomic.Uint64
	served     chan struct{} // closed at the first agentConnected
	servedOnce sync.Once
	reconnects atomic.Int32
	trouble    atomic.Value // string: why it gave up
}

// run reads the visitor's events; when its socket ends because its node
// died it resumes on another node from the last seq it holds.
func (v *waitingVisitor) run(cl *testCluster, c *wsConn, stop <-chan struct{}) {
	for {
		v.consume(c, stop)
		select {
		case <-stop:
			return
		default:
		}
		if !cl.nodes[v.node].dead.Load() {
			select {
			case <-v.served:
				return // its chat ended on a live node: nothing more to see
			default:
			}
		}
		next, err := v.reconnect(cl, stop)
		if err != nil {
			v.trouble.Store(err.Error())
			return
		}
		c = next
	}
}

func (v *waitingVisitor) consume(c *wsConn, stop <-chan struct{}) {
	for {
		var ev wiretest.Event
		select {
		case <-stop:
			c.close()
			return
		case ev = <-c.events:
		case <-c.done:
			select {
			case ev = <-c.events:
			default:
				return
			}
		}
		if ev.Seq > v.lastSeq.Load() {
			v.lastSeq.Store(ev.Seq)
		}
		if ev.Name == "WebChatService.agentConnected" {
			v.servedOnce.Do(func() { close(v.served) })
		}
	}
}

func (v *waitingVisitor) reconnect(cl *testCluster, stop <-chan struct{}) (*wsConn, error) {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for k := 1; time.Now().Before(deadline); k++ {
		select {
		case <-stop:
			return nil, errors.New("stopped")
		default:
		}
		i := (v.node + k) % len(cl.nodes)
		if cl.nodes[i].dead.Load() {
			continue
		}
		c, err := dialWS(cl.nodes[i].wsURL())
		if err == nil {
			if _, err = c.auth(v.token, v.lastSeq.Load()); err == nil {
				v.node = i
				v.reconnects.Add(1)
				return c, nil
			}
			c.close()
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("visitor of chat %s could not resume from seq %d on another node within 30 s: %v", v.chatID, v.lastSeq.Load(), last)
}

// seatAgent is one agent of the leader test: it ends each chat it gets
// after a while, and counts its chats from its own stream at every event.
type seatAgent struct {
	id, token string
	maxChats  int
	hold      time.Duration
	log       func(format string, args ...any)
	stop      <-chan struct{} // the test is over: no more ends, no more logs
	wg        *sync.WaitGroup // the test's, which waits for the ends too

	mu         sync.Mutex
	node       int
	conn       *wsConn
	open       map[string]bool
	ending     map[string]bool // chats an endChat was sent for on the current socket
	peak       int
	assigned   int // chatAssigned events seen
	violations []string
	problems   []string
}

func (a *seatAgent) connect(cl *testCluster, i int) error {
	c, err := dialWS(cl.nodes[i].wsURL())
	if err != nil {
		return err
	}
	// A fresh console: position 0 is answered with a resync (the resume of
	// a position across nodes is TestClusterSurvivesNodeKill's).
	if _, err := c.auth(a.token, 0); err != nil {
		c.close()
		return err
	}
	a.mu.Lock()
	a.node, a.conn, a.ending = i, c, map[string]bool{}
	a.mu.Unlock()
	return nil
}

// reload takes the agent's chats from listChats, as a console does after a
// resync, and checks them against its seats.
func (a *seatAgent) reload(c *wsConn) error {
	r, err := c.command("AgentService.listChats", nil)
	if err != nil {
		return err
	}
	var lc struct {
		Chats []struct{ ChatID string }
	}
	if err := json.Unmarshal(r.Data, &lc); err != nil {
		return err
	}
	a.mu.Lock()
	a.open = map[string]bool{}
	for _, ch := range lc.Chats {
		a.open[ch.ChatID] = true
	}
	a.checkSeats("listChats after (re)connecting")
	ids := make([]string, 0, len(a.open))
	for id := range a.open {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	for _, id := range ids {
		a.endLater(id)
	}
	return nil
}

// checkSeats notes a count over maxChats; a.mu is held.
func (a *seatAgent) checkSeats(at string) {
	a.peak = max(a.peak, len(a.open))
	if len(a.open) > a.maxChats {
		ids := make([]string, 0, len(a.open))
		for id := range a.open {
			ids = append(ids, id)
		}
		a.violations = append(a.violations, fmt.Sprintf("agent %s on n%d holds %d chats (max %d) at %s: %v", a.id, a.node+1, len(a.open), a.maxChats, at, ids))
	}
}

// endLater ends a chat after the agent's hold time, on the socket it has
// then; a socket that died meanwhile leaves it to the next reload.
func (a *seatAgent) endLater(chatID string) {
	a.mu.Lock()
	if a.ending[chatID] {
		a.mu.Unlock()
		return
	}
	a.ending[chatID] = true
	a.mu.Unlock()
	a.wg.Add(1) // called from run, which the WaitGroup counts: never at zero
	go func() {
		defer a.wg.Done()
		select {
		case <-time.After(a.hold):
		case <-a.stop:
			return
		}
		a.mu.Lock()
		c := a.conn
		a.mu.Unlock()
		_, err := c.command("AgentService.endChat", map[string]any{"chatId": chatID})
		select {
		case <-a.stop:
			return
		default:
		}
		if err != nil && !strings.Contains(err.Error(), `"chat_ended"`) {
			a.log("agent %s: endChat %s: %v", a.id, chatID, err)
		}
	}()
}

// run reads the agent's stream; when the socket ends because its node
// died, it logs in again on another node.
func (a *seatAgent) run(cl *testCluster, stop <-chan struct{}) {
	for {
		a.mu.Lock()
		c := a.conn
		a.mu.Unlock()
		a.consume(c, stop)
		select {
		case <-stop:
			return
		default:
		}
		a.mu.Lock()
		node := a.node
		a.mu.Unlock()
		if !cl.nodes[node].dead.Load() {
			a.mu.Lock()
			a.problems = append(a.problems, fmt.Sprintf("agent %s: socket on live node n%d ended: %v", a.id, node+1, c.err))
			a.mu.Unlock()
		}
		ok := false
		for k := 1; k <= 2*len(cl.nodes) && !ok; k++ {
			i := (node + k) % len(cl.nodes)
			if cl.nodes[i].dead.Load() {
				continue
			}
			if err := a.connect(cl, i); err != nil {
				a.log("agent %s: connect to n%d: %v", a.id, i+1, err)
				time.Sleep(200 * time.Millisecond)
				continue
			}
			a.mu.Lock()
			nc := a.conn
			a.mu.Unlock()
			if err := a.reload(nc); err != nil {
				a.log("agent %s: reload on n%d: %v", a.id, i+1, err)
				continue
			}
			a.log("agent %s moved to n%d", a.id, i+1)
			ok = true
		}
		if !ok {
			a.mu.Lock()
			a.problems = append(a.problems, fmt.Sprintf("agent %s could not move to another node", a.id))
			a.mu.Unlock()
			return
		}
	}
}

func (a *seatAgent) consume(c *wsConn, stop <-chan struct{}) {
	for {
		var ev wiretest.Event
		select {
		case <-stop:
			c.close()
			return
		case ev = <-c.events:
		case <-c.done:
			select {
			case ev = <-c.events:
			default:
				return
			}
		}
		var d struct{ ChatID string }
		_ = json.Unmarshal(ev.Data, &d)
		switch ev.Name {
		case "AgentService.chatAssigned":
			a.mu.Lock()
			if a.open[d.ChatID] {
				a.problems = append(a.problems, fmt.Sprintf("agent %s: chatAssigned %s while it holds it", a.id, d.ChatID))
			}
			a.open[d.ChatID] = true
			a.assigned++
			a.checkSeats(fmt.Sprintf("chatAssigned %s (stream position %d)", d.ChatID, ev.Seq))
			a.mu.Unlock()
			a.endLater(d.ChatID)
		case "AgentService.chatEnded":
			a.mu.Lock()
			delete(a.open, d.ChatID)
			a.mu.Unlock()
		case "AgentService.chatTransferred":
			a.mu.Lock()
			a.problems = append(a.problems, fmt.Sprintf("agent %s: unexpected %s %s", a.id, ev.Name, ev.Data))
			a.mu.Unlock()
		}
	}
}

// TestClusterLeaderKilledWhileVisitorsWait: 50 visitors wait on three
// nodes with no agent online; agents come online across the nodes, and the
// leader, which routes, dies with SIGKILL after the first assignments.
// Another node leads within 10 s, every visitor gets an agent, and no agent
// ever holds more chats than its maxChats by its own stream.
func TestClusterLeaderKilledWhileVisitorsWait(t *testing.T) {
	cl := startCluster(t, 3)
	leader, took := waitLeader(cl.nodes, 30*time.Second)
	if leader == nil {
		t.Fatal("no node leads 30 s after the start")
	}
	t.Logf("%s leads (%v after the last node started)", leader.name, took.Round(time.Millisecond))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()

	const visitors = 50
	vs := make([]*waitingVisitor, visitors)
	for i := range vs {
		node := i % len(cl.nodes)
		token, chatID := startVisitorChat(t, cl.nodes[node].base, fmt.Sprintf("visitor%d", i))
		v := &waitingVisitor{token: token, chatID: chatID, node: node, served: make(chan struct{})}
		c, err := dialWS(cl.nodes[node].wsURL())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.auth(token, 0); err != nil {
			t.Fatal(err)
		}
		vs[i] = v
		wg.Add(1)
		go func() { defer wg.Done(); v.run(cl, c, stop) }()
	}
	for _, v := range vs {
		select {
		case <-v.served:
			t.Fatalf("chat %s was served before any agent was online", v.chatID)
		default:
		}
	}

	// Agents come online one after the other, two per node; each ends a
	// chat a while after getting it, so that seats free up and all 50
	// visitors get served by 24 seats.
	var logMu sync.Mutex
	finished := false // the test is over: its log is closed
	defer func() { logMu.Lock(); finished = true; logMu.Unlock() }()
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !finished {
			t.Logf(format, args...)
		}
	}
	agents := make([]*seatAgent, 6)
	var agentsMu sync.Mutex // agents fills while the killer reads it
	assignedSoFar := func() int {
		agentsMu.Lock()
		defer agentsMu.Unlock()
		n := 0
		for _, a := range agents {
			if a == nil {
				continue
			}
			a.mu.Lock()
			n += a.assigned
			a.mu.Unlock()
		}
		return n
	}
	// The leader dies after the first few assignments, while the other
	// agents are still coming online.
	killed := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(killed)
		deadline := time.Now().Add(30 * time.Second)
		for assignedSoFar() < 6 {
			if time.Now().After(deadline) {
				t.Errorf("only %d chats assigned 30 s after the agents came online", assignedSoFar())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		served := 0
		for _, v := range vs {
			select {
			case <-v.served:
				served++
			default:
			}
		}
		at := assignedSoFar()
		leader.kill(t)
		logf("killed the leader %s after %d assignments (%d visitors served)", leader.name, at, served)
	}()
	for i := range agents {
		a := &seatAgent{id: fmt.Sprintf("a%d", i+1), token: fmt.Sprintf("a%d-secret", i+1), maxChats: 4,
			hold: 1500 * time.Millisecond, log: logf, stop: stop, wg: &wg, open: map[string]bool{}, ending: map[string]bool{}}
		node := i % len(cl.nodes)
		for cl.nodes[node].dead.Load() {
			node = (node + 1) % len(cl.nodes)
		}
		if err := a.connect(cl, node); err != nil {
			t.Fatal(err)
		}
		agentsMu.Lock()
		agents[i] = a
		agentsMu.Unlock()
		wg.Add(1)
		go func() { defer wg.Done(); a.run(cl, stop) }()
		if _, err := a.conn.command("AgentService.setStatus", map[string]any{"status": "online"}); err != nil {
			t.Fatalf("agent %s on n%d: setStatus online: %v", a.id, node+1, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case <-killed:
	case <-time.After(40 * time.Second):
		t.Fatal("the leader was not killed within 40 s")
	}
	if !leader.dead.Load() {
		t.FailNow()
	}

	next, took := waitLeader(cl.nodes, 30*time.Second)
	switch {
	case next == nil:
		t.Errorf("no surviving node leads 30 s after the leader %s died", leader.name)
	case took > 10*time.Second:
		t.Errorf("%s leads %v after the leader %s died, want within 10 s", next.name, took.Round(time.Millisecond), leader.name)
	default:
		t.Logf("%s leads %v after the leader %s died", next.name, took.Round(time.Millisecond), leader.name)
	}

	// Every visitor gets an agent.
	waitUntil := time.Now().Add(40 * time.Second)
	var unserved []string
	for _, v := range vs {
		select {
		case <-v.served:
		case <-time.After(time.Until(waitUntil)):
			msg := fmt.Sprintf("chat %s (socket on n%d, seq %d, %d reconnects)", v.chatID, v.node+1, v.lastSeq.Load(), v.reconnects.Load())
			if tr, ok := v.trouble.Load().(string); ok {
				msg += ": " + tr
			}
			unserved = append(unserved, msg)
		}
	}
	if len(unserved) > 0 {
		t.Errorf("%d of %d visitors saw no agent join within 40 s of the kill: %v", len(unserved), visitors, unserved)
	}
	moved := 0
	for _, v := range vs {
		moved += int(v.reconnects.Load())
	}
	t.Logf("%d visitor sockets resumed on another node", moved)

	for _, a := range agents {
		a.mu.Lock()
		for _, p := range a.violations {
			t.Error(p)
		}
		for _, p := range a.problems {
			t.Error(p)
		}
		t.Logf("agent %s: %d assignments seen on its stream, at most %d chats at once", a.id, a.assigned, a.peak)
		a.mu.Unlock()
	}
}
