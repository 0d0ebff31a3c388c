package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// version is set at build time:
// -ldflags "-X github.com/cxgate/cxgate/server.version=v1.2.3".
var version string

// Version is the gateway's version: the one set at build time, else the
// module's, else "devel" and the commit it was built from.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

// viewCollector reads the engine's view once per scrape for the queue,
// agent and chat gauges, and the store file's size.
type viewCollector struct {
	engine *engine.Engine
	dbPath string

	waiting, oldest, agents, free, active, build, storeBytes *prometheus.Desc
}

func newViewCollector(e *engine.Engine, dbPath string) *viewCollector {
	return &viewCollector{engine: e, dbPath: dbPath,
		waiting: prometheus.NewDesc("cxgate_queue_waiting", "Chats waiting in each queue.", []string{"queue"}, nil),
		oldest: prometheus.NewDesc("cxgate_queue_oldest_wait_seconds",
			"How long the longest-waiting chat of each queue has waited; 0 when none waits.", []string{"queue"}, nil),
		agents: prometheus.NewDesc("cxgate_agents", "Agents by status.", []string{"status"}, nil),
		free:   prometheus.NewDesc("cxgate_agent_free_slots", "Free chat slots of the online agents.", nil, nil),
		active: prometheus.NewDesc("cxgate_chats_active", "Chats with an agent in them, by deployment and mode.",
			[]string{"deployment", "mode"}, nil),
		build:      prometheus.NewDesc("cxgate_build_info", "Always 1; the version is the label.", []string{"version"}, nil),
		storeBytes: prometheus.NewDesc("cxgate_store_bytes", "Size of the store's file.", nil, nil),
	}
}

func (v *viewCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{v.waiting, v.oldest, v.agents, v.free, v.active, v.build, v.storeBytes} {
		ch <- d
	}
}

func (v *viewCollector) Collect(ch chan<- prometheus.Metric) {
	s := v.engine.Stats()
	for q, st := range s.Queues {
		ch <- prometheus.MustNewConstMetric(v.waiting, prometheus.GaugeValue, float64(st.Waiting), q)
		ch <- prometheus.MustNewConstMetric(v.oldest, prometheus.GaugeValue, st.OldestWait.Seconds(), q)
	}
	for status, n := range s.Agents {
		ch <- prometheus.MustNewConstMetric(v.agents, prometheus.GaugeValue, float64(n), string(status))
	}
	ch <- prometheus.MustNewConstMetric(v.free, prometheus.GaugeValue, float64(s.FreeSlots))
	for k, n := range s.Active {
		ch <- prometheus.MustNewConstMetric(v.active, prometheus.GaugeValue, float64(n), k.Deployment, string(k.Mode))
	}
	ch <- prometheus.MustNewConstMetric(v.build, prometheus.GaugeValue, 1, Version())
	if fi, err := os.Stat(v.dbPath); err == nil {
		ch <- prometheus.MustNewConstMetric(v.storeBytes, prometheus.GaugeValue, float64(fi.Size()))
	}
}

// chatTimes measures, from committed events, how long chats wait for an
// agent (from entering a queue to an agent joining) and for a first answer
// (from the visitor's first message to an agent's first message), and logs
// the chats' lifecycle at debug level. Its maps hold open chats only.
type chatTimes struct {
	wait, firstResponse prometheus.Histogram
	logger              *slog.Logger

	mu       sync.Mutex
	queued   map[string]int64 // chat → when it entered the queue, unix ms
	asked    map[string]int64 // chat → the visitor's first unanswered message, unix ms
	answered map[string]bool  // chats (or current threads) an agent has answered
}

func newChatTimes(logger *slog.Logger) *chatTimes {
	buckets := []float64{1, 5, 10, 15, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 3600}
	return &chatTimes{logger: logger,
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cxgate_chat_wait_seconds",
			Help: "Time from a chat entering a queue to an agent joining it.", Buckets: buckets}),
		firstResponse: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cxgate_first_response_seconds",
			Help: "Time from a visitor's first message to an agent's first message.", Buckets: buckets}),
		queued: map[string]int64{}, asked: map[string]int64{}, answered: map[string]bool{},
	}
}

func isAgent(p model.Party) bool { return p.Type == model.PartyAgent || p.Type == model.PartyBot }

// observe is an engine observer: it runs on the store's writer goroutine and
// only updates maps and histograms.
func (t *chatTimes) observe(c *model.Chat, evs []model.Event) {
	if len(evs) == 0 || evs[0].Seq == 0 {
		return // ephemeral: typing, queue positions
	}
	if evs[0].Type == model.EventChatRated {
		return // a rating of an ended chat (ratings.go): its end was logged already
	}
	created := c.LastSeq == uint64(len(evs)) // the commit that made the chat
	if created {
		t.logger.Debug("chat started", "chat", c.ID, "deployment", c.Deployment, "mode", c.Mode, "queue", c.Queue)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		switch ev.Type {
		case model.EventParticipantJoined:
			if !isAgent(ev.From) {
				continue
			}
			t.logger.Debug("agent joined chat", "chat", c.ID, "agent", ev.From.ID)
			if since, ok := t.queued[c.ID]; ok {
				t.wait.Observe(seconds(ev.Time - since))
				delete(t.queued, c.ID)
			}
		case model.EventParticipantLeft:
			if isAgent(ev.From) {
				t.logger.Debug("agent left chat", "chat", c.ID, "agent", ev.From.ID)
			}
		case model.EventMessage:
			switch {
			case ev.From.Type == model.PartyClient:
				if _, ok := t.asked[c.ID]; !ok && !t.answered[c.ID] {
					t.asked[c.ID] = ev.Time
				}
			case isAgent(ev.From) && !ev.Internal: // a note or whisper answers nobody
				if since, ok := t.asked[c.ID]; ok {
					t.firstResponse.Observe(seconds(ev.Time - since))
					delete(t.asked, c.ID)
				}
				t.answered[c.ID] = true
			}
		case model.EventThreadOpened:
			// A new thread of a conversation: its own first answer.
			delete(t.answered, c.ID)
		case model.EventThreadClosed:
			delete(t.answered, c.ID)
			delete(t.asked, c.ID)
		case model.EventTransferred:
			t.logger.Debug("chat transferred", "chat", c.ID)
		}
	}
	switch c.State {
	case model.StateQueued:
		if _, ok := t.queued[c.ID]; !ok {
			at := evs[len(evs)-1].Time
			if created {
				at = c.CreatedAt
			}
			t.queued[c.ID] = at
		}
	case model.StateEnded:
		t.logger.Debug("chat ended", "chat", c.ID, "by", c.EndedBy)
		delete(t.queued, c.ID)
		delete(t.asked, c.ID)
		delete(t.answered, c.ID)
	default:
		delete(t.queued, c.ID)
	}
}

func seconds(ms int64) float64 { return float64(max(ms, 0)) / 1000 }

// authFailures logs refused tokens at most once per interval, with how many
// there were since the last line: a client hammering bad tokens costs one
// line per interval, not one per attempt.
type authFailures struct {
	logger   *slog.Logger
	metrics  interface{ ObserveRejection(code string) }
	interval time.Duration

	mu    sync.Mutex
	last  time.Time
	count int
}

func (a *authFailures) observe(err error) {
	code := bus.AsRejection(err).Code
	a.metrics.ObserveRejection(code)
	a.mu.Lock()
	a.count++
	now := time.Now()
	if now.Sub(a.last) < a.interval {
		a.mu.Unlock()
		return
	}
	n := a.count
	a.last, a.count = now, 0
	a.mu.Unlock()
	a.logger.Warn("authentication failed", "code", code, "failures", n, "per", a.interval)
}

func dbPath(data string) string { return filepath.Join(data, DBFile) }
