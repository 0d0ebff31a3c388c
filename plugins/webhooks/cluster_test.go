package webhooks_test

import (
	"maps"
	"testing"

	"github.com/cxgate/cxgate/internal/natstest"
	"github.com/cxgate/cxgate/internal/pgtest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestWebhooks_ClusterDeliversOnce: two gateways of a cluster write the
// events, one delivers them (the leader), each once.
func TestWebhooks_ClusterDeliversOnce(t *testing.T) {
	pg := pgtest.New(t)
	url := pg.Database(t)
	nats := natstest.Start(t)
	r := newReceiver(t, map[string][]string{"all": {"secret-all"}})
	var gws []*servertest.Gateway
	for _, node := range []string{"n1", "n2"} {
		cfg := testConfig(r.hook("all"))
		cfg.Store.Postgres, cfg.Cluster.NATS, cfg.Cluster.Node = url, nats, node
		gws = append(gws, servertest.Start(t, servertest.Options{Webhooks: fast, Config: cfg}))
	}
	// A chat on each node, and a message left on the second.
	want := map[string]string{}
	_, live := liveChat(t, gws[0])
	maps.Copy(want, live)
	_, async := asyncChat(t, gws[1])
	maps.Copy(want, async)
	_, left := leftMessage(t, gws[1])
	maps.Copy(want, left)
	waitDelivered(t, gws[0], r, "all", want)
	waitDelivered(t, gws[1], r, "all", want)
	all, _ := r.attempts()
	for k, n := range all {
		if n != 1 {
			t.Errorf("%s: %d requests, want one (one node delivers)", k, n)
		}
	}
	if len(all) != len(want) {
		t.Errorf("%d deliveries, want %d", len(all), len(want))
	}
}
