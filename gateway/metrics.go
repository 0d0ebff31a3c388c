package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cxgate/cxgate/bus"
)

// Metrics is the gateway's Prometheus registry and the instruments the other
// parts feed through plain callbacks (so bus and store never import
// Prometheus). Its own registry, not the global default: nothing global.
type Metrics struct {
	reg            *prometheus.Registry
	commands       *prometheus.CounterVec
	commandSeconds *prometheus.HistogramVec
	commitWrites   prometheus.Histogram
	commitSeconds  prometheus.Histogram
	httpRequests   *prometheus.CounterVec
	httpSeconds    *prometheus.HistogramVec
	rejections     *prometheus.CounterVec
}

// NewMetrics makes the registry with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxgate_commands_total", Help: "Bus commands by name and outcome (resolved, or the rejection code).",
		}, []string{"command", "outcome"}),
		commandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cxgate_command_duration_seconds", Help: "Bus command latency, fsync included for writes.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"command"}),
		commitWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxgate_store_commit_writes", Help: "Writes carried by one store transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxgate_store_commit_duration_seconds", Help: "Store transaction time, fsync included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxgate_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cxgate_http_request_duration_seconds", Help: "HTTP request time by route (long-polls wait by design).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxgate_rejections_total", Help: "Rejections by code: of commands on every wire, of tokens, and of requests the gateway refused itself (rate limits, sizes, unknown paths).",
		}, []string{"code"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.commands, m.commandSeconds, m.commitWrites, m.commitSeconds, m.httpRequests, m.httpSeconds, m.rejections)
	return m
}

// ObserveCommand is a bus.CommandObserver.
func (m *Metrics) ObserveCommand(name string, d time.Duration, code string) {
	if code == "" {
		code = "resolved"
	} else {
		m.rejections.WithLabelValues(code).Inc()
	}
	m.commands.WithLabelValues(name, code).Inc()
	m.commandSeconds.WithLabelValues(name).Observe(d.Seconds())
}

// ObserveRejection counts a rejection made outside a command: a refused
// token, or a request the gateway refused before any command ran.
func (m *Metrics) ObserveRejection(code string) { m.rejections.WithLabelValues(code).Inc() }

// Register adds a collector, such as one reading many series at once.
func (m *Metrics) Register(c prometheus.Collector) { m.reg.MustRegister(c) }

// ObserveCommit is the store's commit observer.
func (m *Metrics) ObserveCommit(writes int, d time.Duration) {
	m.commitWrites.Observe(float64(writes))
	m.commitSeconds.Observe(d.Seconds())
}

// Gauge registers a gauge read from fn at scrape time.
func (m *Metrics) Gauge(name, help string, labels prometheus.Labels, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, fn))
}

// Counter registers a counter read from fn at scrape time.
func (m *Metrics) Counter(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// LabeledCounter registers a counter with constant labels, read from fn at
// scrape time.
func (m *Metrics) LabeledCounter(name, help string, labels prometheus.Labels, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, fn))
}

// handler serves the registry.
func (m *Metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

// Handler serves the registry at /metrics and nothing else: the handler of
// a metrics listener of its own (config metricsAddr).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// middleware counts requests by their route pattern (never the raw path:
// clients choose paths, and labels must stay few).
func (m *Metrics) middleware(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	route := c.Route().Path
	status := c.Response().StatusCode()
	if err != nil {
		// The error handler sets the status after this returns.
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status = fe.Code
		} else {
			status = bus.AsRejection(err).Status
		}
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
	return err
}
