package purecloud_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/natstest"
	"github.com/cxgate/cxgate/internal/pgtest"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// leads reads a gateway's /metrics: whether it is the cluster's leader.
func leads(t *testing.T, gw *servertest.Gateway) bool {
	t.Helper()
	resp, err := http.Get(gw.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "cxgate_cluster_leader{") && strings.Contains(string(b), `"} 1`)
}

// TestClusterAgentJoinReachesStream: a guest chat created on a node that
// does not lead is held out of routing by the leader too, until the
// guest's stream attaches on its own node; then the leader routes it and
// the agent's join reaches the stream.
func TestClusterAgentJoinReachesStream(t *testing.T) {
	url := pgtest.New(t).Database(t)
	nats := natstest.Start(t)
	var gws []*servertest.Gateway
	for i := range 2 {
		cfg := config.Demo()
		cfg.Store.Postgres, cfg.Cluster.NATS, cfg.Cluster.Node = url, nats, fmt.Sprintf("n%d", i+1)
		gws = append(gws, servertest.Start(t, servertest.Options{Config: &cfg}))
	}
	var leader, follower *servertest.Gateway
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		for i, g := range gws {
			if leads(t, g) {
				leader, follower = g, gws[1-i]
				return true
			}
		}
		return false
	})
	ann := wiretest.Dial(t, leader.WSURL, wiretest.DialOptions{})
	ann.MustAuth(leader.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)

	g := create(t, follower, "Rita")
	// The leader sees the chat and does not route it while the guest has
	// no stream.
	wiretest.WaitFor(t, 10*time.Second, func() bool { _, ok := leader.Engine().OpenChat(g.ID); return ok })
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if ev, ok := ann.Next(time.Until(deadline)); ok && ev.Name == "AgentService.chatAssigned" {
			t.Fatal("the leader routed the guest chat before its stream attached on the other node")
		}
	}
	s := dialStream(t, g.Stream)
	ann.Until(10*time.Second, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	for {
		f := s.next(t)
		if f.kind() == "message" && f.EventBody.BodyType == "member-join" {
			break
		}
	}
}
