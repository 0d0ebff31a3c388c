package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/internal/netguard"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// Name is the plugin's bus name.
const Name = "WebhookService"

// Outbox is what the service needs of the store; *store.Store has it.
type Outbox interface {
	PendingOutbox(ctx context.Context, now time.Time, want func(subscription string) int) ([]model.OutboxEntry, time.Time, error)
	UpdateOutbox(ctx context.Context, e model.OutboxEntry) error
	DeleteOutbox(ctx context.Context, id uint64) error
	MoveToDead(ctx context.Context, e model.OutboxEntry) error
	RetryDead(ctx context.Context, id uint64, now time.Time) (model.OutboxEntry, error)
	RetryAllDead(ctx context.Context, now time.Time, limit int) (int, error)
	ListOutbox(ctx context.Context, state model.OutboxState, after uint64, limit int) ([]model.OutboxEntry, error)
	OutboxEntryByID(ctx context.Context, id uint64) (model.OutboxEntry, model.OutboxState, error)
	OutboxDepth(ctx context.Context) (pending, dead int, err error)
	PruneDead(ctx context.Context, deadBefore time.Time, keep int) (removed int, err error)
	// The change feed, which the service turns into outbox entries.
	SetChangeFeed(on bool)
	ChangeFeedSignal() <-chan struct{}
	Changes(ctx context.Context, limit int) ([]store.Change, [][]model.Event, error)
	ConsumeChanges(ctx context.Context, through uint64, entries []model.OutboxEntry) error
}

// Options tune delivery. The zero value is the production default.
type Options struct {
	// BaseBackoff is the wait after the first failed attempt; it doubles
	// with every further one, up to MaxBackoff, with ±10% jitter. Default 30 s.
	BaseBackoff time.Duration
	// MaxBackoff caps the wait between attempts. Default 1 h.
	MaxBackoff time.Duration
	// MaxAttempts is how many failed attempts send an entry to the dead
	// letters. Default 10.
	MaxAttempts int
	// Timeout bounds one request, answer included. Default 10 s.
	Timeout time.Duration
	// Concurrency is how many requests may be in flight at once. Default 8.
	Concurrency int
	// PerWebhook is how many of them may be for one subscription, so that a
	// receiver that hangs holds at most that many requests while the other
	// subscriptions' deliveries go on. Default 2.
	PerWebhook int
	// DeadRetention is how long dead letters are kept: older ones are
	// deleted at start and every hour. Default 7 days.
	DeadRetention time.Duration
	// MaxDead caps the dead letters kept; beyond it the oldest are deleted
	// with the expired ones. Default 10,000.
	MaxDead int
	// Now is the clock of due times and signature timestamps; nil for time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil for slog.Default()
	// Client sends the requests; nil for one with Timeout that follows no
	// redirects (a 3xx is a failed attempt), uses no proxy, and connects to
	// loopback, private and link-local addresses only while the
	// configuration in force says allowPrivateWebhooks (judged on the
	// resolved address of every connection: see internal/netguard).
	Client *http.Client
}

func (o *Options) applyDefaults() {
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.PerWebhook <= 0 {
		o.PerWebhook = 2
	}
	if o.DeadRetention <= 0 {
		o.DeadRetention = 7 * 24 * time.Hour
	}
	if o.MaxDead <= 0 {
		o.MaxDead = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// guardedClient is the default Client: allowPrivate is asked at every
// connection.
func guardedClient(timeout time.Duration, allowPrivate func() bool) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second,
		Control: func(network, address string, c syscall.RawConn) error {
			if allowPrivate() {
				return nil
			}
			return netguard.Control(network, address, c)
		}}
	return &http.Client{
		Timeout: timeout,
		// No proxy from the environment: the guard judges the address
		// connected to, which must be the receiver's.
		Transport: &http.Transport{DialContext: d.DialContext, ForceAttemptHTTP2: true, MaxIdleConns: 64,
			MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: timeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Stats counts delivery attempts since the service was made.
type Stats struct {
	Delivered uint64 // answered 2xx
	Failed    uint64 // failed attempts (each retry counts)
	Dead      uint64 // entries sent to the dead letters
}

// Service delivers webhooks and is the WebhookService plugin.
type Service struct {
	store  Outbox
	engine *engine.Engine
	opts   Options
	now    func() time.Time
	logger *slog.Logger

	kick chan struct{} // wakes Run; never blocks a sender

	delivered, failed, dead atomic.Uint64
}

// Register makes the service and registers the WebhookService plugin on b.
// While any webhook is configured the store's change feed is on; start
// [Service.Run] to turn it into deliveries and make them.
func Register(b *bus.Bus, st Outbox, e *engine.Engine, o Options) (*Service, error) {
	o.applyDefaults()
	if o.Client == nil {
		o.Client = guardedClient(o.Timeout, func() bool { return e.Config().AllowPrivateWebhooks })
	}
	s := &Service{store: st, engine: e, opts: o, now: o.Now, logger: o.Logger, kick: make(chan struct{}, 1)}
	p, err := b.RegisterPlugin(Name)
	if err != nil {
		return nil, err
	}
	for name, h := range map[string]bus.HandlerFunc{
		CommandListDeliveries: s.listDeliveries,
		CommandRetryDelivery:  s.retryDelivery,
		CommandRetryAll:       s.retryAll,
	} {
		if err := p.RegisterCommand(name, adminOnly(h)); err != nil {
			return nil, err
		}
	}
	// The feed is on before a write that follows the webhook's creation.
	e.ObserveConfig(func(c *config.Config) { st.SetChangeFeed(len(c.Webhooks) > 0) })
	// A left message commits with its deliveries; wake Run after every one,
	// they are few.
	e.ObserveMessages(func(string, model.LeftMessage) { s.wake() })
	return s, nil
}

// changeBatch is how many change rows one pass of the feed reads.
const changeBatch = 256

// drainChanges turns the change feed into outbox entries, a batch of rows
// per write, until the feed is empty. It runs on Run's goroutine, so the
// payloads are encoded neither on the store's writer nor on the engine's.
func (s *Service) drainChanges(ctx context.Context) {
	for ctx.Err() == nil {
		changes, events, err := s.store.Changes(ctx, changeBatch)
		if err != nil {
			s.logger.Error("webhooks: read the change feed", "err", err)
			return
		}
		if len(changes) == 0 {
			return
		}
		var entries []model.OutboxEntry
		for i := range changes {
			entries = append(entries, s.outbox(&changes[i].Chat, events[i])...)
		}
		if err := s.store.ConsumeChanges(ctx, changes[len(changes)-1].ID, entries); err != nil {
			if ctx.Err() == nil {
				s.logger.Error("webhooks: write the deliveries of the change feed", "err", err)
			}
			return
		}
		if len(changes) < changeBatch {
			return
		}
	}
}

func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Stats returns the delivery counters.
func (s *Service) Stats() Stats {
	return Stats{Delivered: s.delivered.Load(), Failed: s.failed.Load(), Dead: s.dead.Load()}
}

// Depth counts the deliveries waiting in the outbox and the dead ones.
func (s *Service) Depth(ctx context.Context) (pending, dead int, err error) {
	return s.store.OutboxDepth(ctx)
}

// Run delivers the outbox until ctx ends, then waits for the requests in
// flight (ctx cancels them; their entries stay due and are sent again after a
// restart). It also prunes the dead letters, at start and every hour.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	inflight := newFlights()
	finished := make(chan model.OutboxEntry, s.opts.Concurrency) // never blocks: at most Concurrency in flight
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	s.pruneDead(ctx)
	s.drainChanges(ctx) // rows a stop or crash left behind
	feed := s.store.ChangeFeedSignal()
	for {
		wait := s.dispatch(ctx, inflight, func(e model.OutboxEntry) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.deliver(ctx, e)
				finished <- e
			}()
		})
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-feed:
			s.drainChanges(ctx)
		case <-timer.C:
		case <-prune.C:
			s.pruneDead(ctx)
		case e := <-finished:
			inflight.remove(e)
		}
	}
}

// pruneEvery is how often Run prunes the dead letters.
const pruneEvery = time.Hour

// flights are the entries being delivered, by id and per subscription. Only
// the Run goroutine uses them.
type flights struct {
	ids  map[uint64]bool
	subs map[string]int // requests in flight per subscription id
}

func newFlights() *flights {
	return &flights{ids: map[uint64]bool{}, subs: map[string]int{}}
}

func (f *flights) add(e model.OutboxEntry) {
	f.ids[e.ID] = true
	f.subs[e.Subscription]++
}

func (f *flights) remove(e model.OutboxEntry) {
	delete(f.ids, e.ID)
	if f.subs[e.Subscription]--; f.subs[e.Subscription] <= 0 {
		delete(f.subs, e.Subscription)
	}
}

// dispatch starts the due entries that are not in flight, as far as there
// are free request slots and their subscriptions are below PerWebhook, and
// returns how long to wait for the next due one (-1: until something
// happens; a request that ends wakes Run).
func (s *Service) dispatch(ctx context.Context, inflight *flights, start func(model.OutboxEntry)) time.Duration {
	free := s.opts.Concurrency - len(inflight.ids)
	if free <= 0 || ctx.Err() != nil {
		return -1
	}
	now := s.now()
	// A subscription at its limit is not read at all, however many of its
	// entries are due: they wait for one of its requests to end. Of the
	// others, PerWebhook are enough: their entries in flight (still due)
	// and as many more as they may start.
	due, next, err := s.store.PendingOutbox(ctx, now, func(sub string) int {
		if inflight.subs[sub] >= s.opts.PerWebhook {
			return 0
		}
		return s.opts.PerWebhook
	})
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Error("webhooks: read outbox", "err", err)
		}
		return time.Second
	}
	for _, e := range due {
		if free == 0 {
			break
		}
		if inflight.ids[e.ID] || inflight.subs[e.Subscription] >= s.opts.PerWebhook {
			continue
		}
		inflight.add(e)
		free--
		start(e)
	}
	// With slots left, every due entry not started is in flight or waits for
	// a subscription at its limit (one that had more due entries than it was
	// given has reached it now): a request that ends wakes Run for those,
	// the timer for next.
	if free == 0 || next.IsZero() {
		return -1
	}
	return max(next.Sub(now), 0)
}

// pruneDead deletes the dead letters older than DeadRetention, and the
// oldest beyond MaxDead.
func (s *Service) pruneDead(ctx context.Context) {
	n, err := s.store.PruneDead(ctx, s.now().Add(-s.opts.DeadRetention), s.opts.MaxDead)
	switch {
	case err != nil && ctx.Err() == nil:
		s.logger.Error("webhooks: prune dead letters", "err", err)
	case n > 0:
		s.logger.Info("webhooks: pruned dead letters", "removed", n)
	}
}

// deliver makes one attempt at e and records its outcome.
func (s *Service) deliver(ctx context.Context, e model.OutboxEntry) {
	now := s.now()
	var status int
	var err error
	w, ok := subscription(s.engine.Config(), e.Subscription)
	if ok {
		status, err = s.post(ctx, w, e, now)
		if ctx.Err() != nil {
			return // stopping: not an attempt; the entry stays due
		}
	} else {
		err = fmt.Errorf("subscription %s: %w", e.Subscription, errNotConfigured)
	}
	// The outcome is recorded even when Run is stopping meanwhile: the store
	// closes only after Run returned.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	log := s.logger.With("webhook", e.Subscription, "delivery", e.ID, "event", e.EventID)
	if err == nil && status >= 200 && status < 300 {
		s.delivered.Add(1)
		if err := s.store.DeleteOutbox(rctx, e.ID); err != nil {
			log.Error("webhooks: delete delivered entry", "err", err)
		}
		return
	}
	s.failed.Add(1)
	e.Attempts++
	e.LastAttempt, e.LastStatus = now.UnixMilli(), status
	if err != nil {
		log = log.With("cause", err.Error())
		e.LastError = attemptError(err)
	} else {
		e.LastError = "HTTP " + strconv.Itoa(status)
	}
	if !ok || e.Attempts >= s.opts.MaxAttempts {
		e.DeadAt = now.UnixMilli()
		s.dead.Add(1)
		log.Error("webhooks: delivery failed for good", "attempts", e.Attempts, "err", e.LastError)
		err = s.store.MoveToDead(rctx, e)
	} else {
		e.NextAt = now.Add(s.backoff(e.Attempts)).UnixMilli()
		log.Warn("webhooks: delivery failed", "attempts", e.Attempts, "err", e.LastError, "retryIn", time.UnixMilli(e.NextAt).Sub(now))
		err = s.store.UpdateOutbox(rctx, e)
	}
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		log.Error("webhooks: record attempt", "err", err)
	}
}

// post sends e to w signed at now and returns the answer's status.
func (s *Service) post(ctx context.Context, w config.Webhook, e model.OutboxEntry, now time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(e.Body))
	if err != nil {
		return 0, err
	}
	ts := now.Unix()
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "cxgate-webhooks/1")
	h.Set(HeaderEvent, e.Event)
	h.Set(HeaderDelivery, e.EventID)
	h.Set(HeaderWebhook, e.Subscription)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(w.Secret, ts, e.Body))
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}

// backoff is the wait after the given number of failed attempts:
// BaseBackoff·2^(attempts-1), capped at MaxBackoff, ±10% jitter.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.opts.MaxBackoff
	if shift := attempts - 1; shift < 62 {
		if b := s.opts.BaseBackoff << shift; b > 0 && b>>shift == s.opts.BaseBackoff && b < d {
			d = b
		}
	}
	if j := int64(d / 5); j > 0 {
		d += time.Duration(rand.Int64N(j+1)) - d/10
	}
	return d
}

// attemptError is what the admin API is told of a failed attempt that got
// no HTTP answer. It names the cause only as far as the admin needs to fix
// the subscription: a refused destination, or no answer at all. Whether the
// port was closed, filtered or spoke something else than HTTP stays in the
// gateway's log, so that webhook URLs are no port scanner (and with private
// destinations refused, what is left to probe is the public internet).
func attemptError(err error) string {
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		return "refused: the destination is a loopback, private or link-local address (allowPrivateWebhooks is off)"
	case errors.Is(err, errNotConfigured):
		return truncate(err.Error(), 512)
	}
	return "no HTTP answer (connection, TLS or timeout; the gateway's log has the cause)"
}

// errNotConfigured: an entry whose subscription was deleted.
var errNotConfigured = errors.New("the subscription is no longer configured")

func subscription(c *config.Config, id string) (config.Webhook, bool) {
	for _, w := range c.Webhooks {
		if w.ID == id {
			return w, true
		}
	}
	return config.Webhook{}, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…", s[:n])
}
