package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/store"
)

// registerLifecycle registers DataService (retention sweeps, erasure,
// export) and its metrics. Run starts with the other goroutines.
func (s *Server) registerLifecycle(o lifecycle.Options) error {
	if o.Logger == nil {
		o.Logger = s.logger
	}
	o.LinkKey = s.db.SessionKey()
	data, err := lifecycle.Register(s.bus, s.db, s.engine, s.hooks, o)
	if err != nil {
		return err
	}
	s.data = data
	m := s.metrics
	for kind, n := range map[string]func(r store.Removed) int64{
		"chats":         func(r store.Removed) int64 { return int64(r.Chats) },
		"events":        func(r store.Removed) int64 { return int64(r.Events) },
		"files":         func(r store.Removed) int64 { return int64(r.Files) },
		"expired_files": func(r store.Removed) int64 { return int64(r.Expired) },
		"file_bytes":    func(r store.Removed) int64 { return r.FileBytes },
		"tokens":        func(r store.Removed) int64 { return int64(r.Tokens) },
		"identities":    func(r store.Removed) int64 { return int64(r.Identities) },
		"left_messages": func(r store.Removed) int64 { return int64(r.LeftMessages) },
	} {
		m.LabeledCounter("cxgate_retention_deleted_total", "What retention sweeps deleted (tokens: expired and superseded ones too).",
			prometheus.Labels{"kind": kind}, func() float64 { return float64(n(data.Stats().Retention)) })
	}
	m.Counter("cxgate_retention_passes_total", "Retention sweep passes completed.",
		func() float64 { return float64(data.Stats().Passes) })
	m.Counter("cxgate_erasures_total", "Identities erased on request.",
		func() float64 { return float64(data.Stats().Erasures) })
	// cxgate_store_bytes is one of the operations series (ops.go).
	return nil
}

// Data is the DataService: retention, erasure and export.
func (s *Server) Data() *lifecycle.Service { return s.data }
