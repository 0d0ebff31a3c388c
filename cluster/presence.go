package cluster

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
)

// announce publishes this node's connected agents: at once when they
// change (checked every quarter of the interval), and every interval
// anyway, so that peers that joined late or lost a message know them.
func (n *Node) announce(localAgents func() []string) {
	defer n.wg.Done()
	tick := time.NewTicker(n.o.Announce / 4)
	defer tick.Stop()
	var last []string
	var lastAt time.Time
	for {
		select {
		case <-n.quit:
			return
		case <-tick.C:
		}
		agents := localAgents()
		slices.Sort(agents)
		if slices.Equal(agents, last) && time.Since(lastAt) < n.o.Announce {
			continue
		}
		last, lastAt = agents, time.Now()
		n.publish(subjectPresence, wirePresence{Node: n.o.Node, Agents: agents})
	}
}

func (n *Node) gotPresence(m *nats.Msg) {
	var w wirePresence
	if json.Unmarshal(m.Data, &w) != nil || w.Node == n.o.Node {
		return
	}
	set := make(map[string]bool, len(w.Agents))
	for _, a := range w.Agents {
		set[a] = true
	}
	n.presenceMu.Lock()
	n.presence[w.Node] = announcement{agents: set, at: time.Now()}
	n.presenceMu.Unlock()
}

// Present reports whether a fresh announcement of another node names the
// agent: it has a connection there.
func (n *Node) Present(agentID string) bool {
	stale := time.Now().Add(-3 * n.o.Announce)
	n.presenceMu.Lock()
	defer n.presenceMu.Unlock()
	for node, a := range n.presence {
		if a.at.Before(stale) {
			delete(n.presence, node)
			continue
		}
		if a.agents[agentID] {
			return true
		}
	}
	return false
}
