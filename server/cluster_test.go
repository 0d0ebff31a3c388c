package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/natstest"
	"github.com/cxgate/cxgate/internal/pgtest"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

var (
	pg    *pgtest.Server
	pgErr error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pg != nil {
		pg.Stop()
	}
	os.Exit(code)
}

// database is a fresh PostgreSQL database for t; the server starts with the
// first test that needs one.
func database(t *testing.T) string {
	t.Helper()
	if pg == nil && pgErr == nil {
		pg, pgErr = pgtest.Start()
	}
	pgtest.Need(t, pgErr)
	url, err := pg.CreateDatabase(fmt.Sprintf("server_%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// clusterOf starts n in-process gateways on one database and one NATS.
func clusterOf(t *testing.T, n int, natsURL string) []*servertest.Gateway {
	t.Helper()
	return clusterWith(t, n, natsURL, servertest.Options{})
}

func clusterWith(t *testing.T, n int, natsURL string, o servertest.Options) []*servertest.Gateway {
	t.Helper()
	url := database(t)
	var gws []*servertest.Gateway
	for i := range n {
		cfg := config.Demo()
		cfg.Store.Postgres = url
		cfg.Cluster.NATS = natsURL
		cfg.Cluster.Node = fmt.Sprintf("n%d", i+1)
		o.Config = &cfg
		gws = append(gws, servertest.Start(t, o))
	}
	return gws
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// leaders lists the gateways whose /metrics say they lead.
func leaders(t *testing.T, gws []*servertest.Gateway) []int {
	var out []int
	for i, g := range gws {
		if g == nil {
			continue
		}
		_, body := httpGet(t, g.URL+"/metrics")
		if strings.Contains(body, fmt.Sprintf(`cxgate_cluster_leader{node="n%d"} 1`, i+1)) {
			out = append(out, i)
		}
	}
	return out
}

func TestClusterHealthLeaderAndReadiness(t *testing.T) {
	nats := natstest.New(t)
	gws := clusterOf(t, 2, nats.URL())
	for i, g := range gws {
		if code, body := httpGet(t, g.URL+"/healthz"); code != 200 || !strings.Contains(body, fmt.Sprintf(`"node":"n%d"`, i+1)) {
			t.Errorf("n%d /healthz: %d %s", i+1, code, body)
		}
	}
	wiretest.WaitFor(t, 10*time.Second, func() bool { return len(leaders(t, gws)) == 1 })
	_, metrics := httpGet(t, gws[0].URL+"/metrics")
	for _, name := range []string{"cxgate_cluster_batches_published_total", "cxgate_cluster_batches_received_total",
		"cxgate_cluster_events_filled_total", "cxgate_cluster_events_dropped_total"} {
		if !strings.Contains(metrics, "\n"+name+" ") {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if code, body := httpGet(t, gws[0].URL+"/readyz"); code != 200 {
		t.Errorf("/readyz with PostgreSQL and NATS up: %d %s", code, body)
	}
	// Without NATS a node is not ready: it would miss the others' commits
	// but for the reconciler's pass.
	nats.Shutdown()
	wiretest.WaitFor(t, 10*time.Second, func() bool { code, _ := httpGet(t, gws[0].URL+"/readyz"); return code == 503 })
	nats.Restart()
	wiretest.WaitFor(t, 10*time.Second, func() bool { code, _ := httpGet(t, gws[0].URL+"/readyz"); return code == 200 })
	// The leader leaves: the other node leads within 10 s.
	lead := leaders(t, gws)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gws[lead].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	other := 1 - lead
	gws[lead] = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l := leaders(t, gws); len(l) == 1 || time.Now().After(deadline) {
			if len(l) != 1 {
				t.Fatalf("n%d did not take the lead within 10 s of n%d's shutdown", other+1, lead+1)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClusterRetryOnAnotherNodeGetsTheFirstResult(t *testing.T) {
	gws := clusterOf(t, 2, natstest.Start(t))
	h1 := wiretest.NewHTTP(t, gws[0].URL).WithDeployment("demo")
	h2 := wiretest.NewHTTP(t, gws[1].URL).WithDeployment("demo")
	var started struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	opts := map[string]any{"nickname": "v", "requestId": "start-request-0001"}
	h1.Command("WebChatService.startChat", opts).Into(t, &started)
	var again struct {
		ChatID string `json:"chatId"`
	}
	h2.Command("WebChatService.startChat", opts).Into(t, &again)
	if again.ChatID != started.ChatID {
		t.Fatalf("a start retried on n2 made chat %s, the first made %s", again.ChatID, started.ChatID)
	}
	send := map[string]any{"message": "once", "requestId": "send-request-00001"}
	first := h1.WithToken(started.Token).Command("WebChatService.sendMessage", send).Resolved(t)
	retry := h2.WithToken(started.Token).Command("WebChatService.sendMessage", send).Resolved(t)
	var a, b struct {
		Seq uint64 `json:"seq"`
	}
	_ = json.Unmarshal(first, &a)
	_ = json.Unmarshal(retry, &b)
	if a.Seq == 0 || a.Seq != b.Seq {
		t.Fatalf("sendMessage retried on n2 answered seq %d, the first %d (%s / %s)", b.Seq, a.Seq, first, retry)
	}
	var tr struct {
		Chat struct {
			LastSeq uint64 `json:"lastSeq"`
		} `json:"chat"`
	}
	wiretest.NewHTTP(t, gws[1].URL).WithToken(gws[1].AgentToken).
		Command("AgentService.getTranscript", map[string]any{"chatId": started.ChatID}).Into(t, &tr)
	if tr.Chat.LastSeq != a.Seq {
		t.Errorf("the chat's last seq is %d after one message and its retry, want %d", tr.Chat.LastSeq, a.Seq)
	}
}

func TestClusterVisitorAndAgentOnDifferentNodes(t *testing.T) {
	gws := clusterOf(t, 2, natstest.Start(t))
	// The agent on n2, over a socket; the visitor on n1, over a socket.
	agent := wiretest.Dial(t, gws[1].WSURL, wiretest.DialOptions{})
	agent.MustAuth(gws[1].AgentToken, 0)
	if r := agent.Command("AgentService.setStatus", map[string]any{"status": "online"}); r.Status != "resolved" {
		t.Fatalf("setStatus: %s", r.Body)
	}
	var started struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	wiretest.NewHTTP(t, gws[0].URL).WithDeployment("demo").
		Command("WebChatService.startChat", map[string]any{"nickname": "v"}).Into(t, &started)
	visitor := wiretest.Dial(t, gws[0].WSURL, wiretest.DialOptions{})
	visitor.MustAuth(started.Token, 0)
	// Routed by whichever node leads, to the agent connected to n2 only.
	agent.Until(10*time.Second, func(e wiretest.Event) bool { return e.Name == "AgentService.chatAssigned" })
	// Typing crosses nodes too, though it is never stored.
	if r := agent.Command("AgentService.sendTyping", map[string]any{"chatId": started.ChatID, "isTyping": true}); r.Status != "resolved" {
		t.Fatalf("sendTyping: %s", r.Body)
	}
	visitor.Until(10*time.Second, func(e wiretest.Event) bool { return e.Name == "WebChatService.agentTypingStarted" })
	if r := agent.Command("AgentService.sendMessage", map[string]any{"chatId": started.ChatID, "message": "from n2"}); r.Status != "resolved" {
		t.Fatalf("agent sendMessage: %s", r.Body)
	}
	got := visitor.Until(10*time.Second, func(e wiretest.Event) bool {
		return e.Name == "WebChatService.messageReceived" && strings.Contains(string(e.Data), "from n2")
	})
	if len(got) == 0 {
		t.Fatal("the visitor on n1 did not get the agent's message sent on n2")
	}
	if r := visitor.Command("WebChatService.sendMessage", map[string]any{"message": "from n1"}); r.Status != "resolved" {
		t.Fatalf("visitor sendMessage: %s", r.Body)
	}
	agent.Until(10*time.Second, func(e wiretest.Event) bool {
		return e.Name == "AgentService.messageReceived" && strings.Contains(string(e.Data), "from n1")
	})
}

func TestClusterDirectoryChangeReachesEveryNode(t *testing.T) {
	gws := clusterOf(t, 2, natstest.Start(t))
	req, err := http.NewRequest(http.MethodPost, gws[0].URL+"/v1/admin/queues", strings.NewReader(`{"name":"billing"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+gws[0].AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, body := wiretest.NewHTTP(t, gws[0].URL).Send(req)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("create queue on n1: %d %s", resp.StatusCode, body)
	}
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		_, ok := gws[1].Engine().Config().Queue("billing")
		return ok
	})
}

// TestClusterPresenceAcrossNodes: an agent connected to one node only is
// present for the leader on the other, past the presence grace, and stays
// so while NATS is down (nobody can hear where agents are then); with no
// connection anywhere it is turned away after the grace.
func TestClusterPresenceAcrossNodes(t *testing.T) {
	nats := natstest.New(t)
	gws := clusterWith(t, 2, nats.URL(), servertest.Options{PresenceGrace: time.Second, ClusterAnnounce: 200 * time.Millisecond})
	wiretest.WaitFor(t, 10*time.Second, func() bool { return len(leaders(t, gws)) == 1 })
	lead := leaders(t, gws)[0]
	other := gws[1-lead]
	agent := wiretest.Dial(t, other.WSURL, wiretest.DialOptions{})
	agent.MustAuth(other.AgentToken, 0)
	agent.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	status := func() string {
		info, err := gws[lead].Engine().Agent("ann")
		if err != nil {
			t.Fatal(err)
		}
		return string(info.Status)
	}
	wiretest.WaitFor(t, 10*time.Second, func() bool { return status() == "online" })
	nats.Shutdown()
	// Announcements go stale after 0.6 s; the leader's presence sweep runs
	// every 5 s, and turns an agent away at the second sweep that misses
	// it (the grace is 1 s).
	time.Sleep(11 * time.Second)
	if s := status(); s != "online" {
		t.Fatalf("ann, connected to the other node, is %s on the leader after a NATS outage", s)
	}
	nats.Restart()
	agent.Close()
	wiretest.WaitFor(t, 20*time.Second, func() bool { return status() == "away" })
}
