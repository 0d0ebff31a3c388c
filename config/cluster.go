package config

import (
	"net/url"
	"os"
	"strings"
)

// Store says where the gateway keeps its data: a bbolt file under Data by
// default, or a PostgreSQL database that several gateways share.
type Store struct {
	// Postgres is a PostgreSQL URL ("postgres://user@host:5432/db?sslmode=disable")
	// or key=value string, as pgx reads it. Empty: the bbolt file.
	Postgres string `yaml:"postgres"`
}

// Cluster joins gateways that share store.postgres into one cluster.
type Cluster struct {
	// NATS is the NATS server (or comma-separated servers of one NATS
	// cluster) that carries each node's commits to the others. Empty: a
	// single node, which may still keep its data on PostgreSQL.
	NATS string `yaml:"nats"`
	// Node names this gateway in logs, /healthz and metrics; default the
	// host name. Every node of a cluster needs its own.
	Node string `yaml:"node"`
}

// Clustered reports whether the gateway runs as a node of a cluster.
func (c *Config) Clustered() bool { return c.Cluster.NATS != "" }

// validateCluster checks store and cluster.
func (c *Config) validateCluster(bad func(format string, args ...any)) {
	if c.Cluster.NATS != "" && c.Store.Postgres == "" {
		bad("cluster.nats: nodes share their store: set store.postgres too")
	}
	for _, s := range strings.Split(c.Cluster.NATS, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			bad("cluster.nats: %q is not a nats:// or tls:// URL", s)
		}
	}
	if c.Cluster.Node != "" && !validID(c.Cluster.Node) {
		bad("cluster.node: %q is not a valid name (letters, digits, - and _, at most 64)", c.Cluster.Node)
	}
}

// NodeName is cluster.node, or the host name made a valid node name
// ("web-1.example" → "web-1-example"), or "node" when the host has none.
func (c *Config) NodeName() string {
	if c.Cluster.Node != "" {
		return c.Cluster.Node
	}
	h, _ := os.Hostname()
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 {
		return "node"
	}
	return string(b)
}
