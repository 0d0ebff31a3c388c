package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// Name is the plugin's bus name.
const Name = "DataService"

// Commands of the plugin.
const (
	CommandErase    = Name + ".eraseIdentity"
	CommandExport   = Name + ".exportIdentity"
	CommandDownload = Name + ".downloadFile"
)

// Store is what the service needs of the store: the retention sweep's
// steps, erasure, and reads for the export. A clustered backend implements
// the same methods with the same guarantees: each step and each erasure is
// one short transaction, and a chat is deleted whole or not at all.
type Store interface {
	SweepChats(ctx context.Context, p store.SweepPolicy, after string, scan int) (next string, r store.Removed, err error)
	ExpireFiles(ctx context.Context, p store.SweepPolicy, after string, scan int) (next string, r store.Removed, err error)
	SweepLeftMessages(ctx context.Context, p store.SweepPolicy, after string, scan int) (next string, r store.Removed, err error)
	EraseIdentity(ctx context.Context, id string, notices func(store.Erasure) []model.OutboxEntry) (store.Erasure, error)
	Identity(ctx context.Context, id string) (model.Identity, error)
	ChatsOfIdentity(ctx context.Context, identityID string) ([]model.Chat, error)
	Chat(ctx context.Context, id string) (model.Chat, error)
	EventsAfter(ctx context.Context, chatID string, after uint64, limit int) ([]model.Event, error)
	FileInfo(ctx context.Context, id string) (model.File, error)
	SweepStaged(ctx context.Context, before time.Time) (int, error)
	LeftMessagesOf(ctx context.Context, identityID string, limit int) ([]model.LeftMessage, error)
}

var _ Store = (*store.Store)(nil)

// Notifier tells the site of an erasure: the webhooks service.
type Notifier interface {
	Erased(identityID string, e store.Erasure) []model.OutboxEntry
	Wake()
}

// Options tune the service. The zero value is the production default.
type Options struct {
	// Interval is the time between two retention passes; default 10 min.
	Interval time.Duration
	// Scan is how many chats, files or left messages one sweep step reads;
	// default 256.
	Scan int
	// StepPause is a wait between two steps of a pass. For tests that must
	// catch a pass in the middle; 0 in production (each step is a write of
	// its own in the writer's queue, so other writers go between them).
	StepPause time.Duration
	// LinkTTL is how long an export's download links work; default 15 min.
	LinkTTL time.Duration
	// LinkKey signs download links; required (the store's session key).
	LinkKey []byte
	Now     func() time.Time // nil for the engine's clock
	Logger  *slog.Logger     // nil for slog.Default()
}

// Stats counts what the service deleted since it was made.
type Stats struct {
	Retention store.Removed // deleted by retention sweeps
	Erased    store.Removed // deleted by erasures
	Erasures  uint64
	Passes    uint64 // retention passes completed
}

// Service is the DataService plugin and the retention sweeper.
type Service struct {
	st     Store
	engine *engine.Engine
	hooks  Notifier
	opts   Options

	sweeping sync.Mutex // one pass at a time
	statsMu  sync.Mutex
	stats    Stats
	passes   atomic.Uint64
}

// Register makes the service and registers the DataService plugin on b.
// Start [Service.Run] for the retention sweeps. hooks may be nil.
func Register(b *bus.Bus, st Store, e *engine.Engine, hooks Notifier, o Options) (*Service, error) {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Minute
	}
	if o.Scan <= 0 {
		o.Scan = 256
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = 15 * time.Minute
	}
	if len(o.LinkKey) == 0 {
		return nil, errors.New("lifecycle: a LinkKey is required")
	}
	if o.Now == nil {
		o.Now = e.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{st: st, engine: e, hooks: hooks, opts: o}
	p, err := b.RegisterPlugin(Name)
	if err != nil {
		return nil, err
	}
	for name, h := range map[string]bus.HandlerFunc{
		"eraseIdentity":  adminOnly(s.erase),
		"exportIdentity": adminOnly(s.export),
		"downloadFile":   s.download,
	} {
		if err := p.RegisterCommand(name, h); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func adminOnly(h bus.HandlerFunc) bus.HandlerFunc {
	return func(ctx context.Context, call *bus.Call) (any, error) {
		if call.Caller.Kind != bus.KindAdmin {
			return nil, bus.ErrForbidden
		}
		return h(ctx, call)
	}
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.Passes = s.passes.Load()
	return st
}

// Run sweeps at once and then every Options.Interval until ctx ends.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.opts.Interval)
	defer tick.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Error("retention: sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sweep runs one retention pass at the service's clock: over every chat,
// then every file, then every left message, a step at a time. It returns what it deleted.
func (s *Service) Sweep(ctx context.Context) (store.Removed, error) {
	s.sweeping.Lock()
	defer s.sweeping.Unlock()
	start := time.Now()
	p := store.SweepPolicy{Now: s.opts.Now(), Retention: s.engine.Retention}
	var total store.Removed
	for _, step := range []func(context.Context, store.SweepPolicy, string, int) (string, store.Removed, error){
		s.st.SweepChats, s.st.ExpireFiles, s.st.SweepLeftMessages,
	} {
		for after := ""; ; {
			next, r, err := step(ctx, p, after, s.opts.Scan)
			if !r.IsZero() {
				total.Add(r)
				s.statsMu.Lock()
				s.stats.Retention.Add(r)
				s.statsMu.Unlock()
			}
			if err != nil {
				return total, fmt.Errorf("retention: %w", err)
			}
			if after = next; after == "" {
				break
			}
			if s.opts.StepPause > 0 {
				select {
				case <-ctx.Done():
					return total, ctx.Err()
				case <-time.After(s.opts.StepPause):
				}
			}
		}
	}
	// Uploads' content left staged by an upload that never ended (each
	// upload deletes its own; this is the backstop). Wall-clock time: a
	// staged file's age is not a matter of retention.
	if n, err := s.st.SweepStaged(ctx, time.Now().Add(-store.StagedTTL)); err != nil {
		return total, fmt.Errorf("retention: %w", err)
	} else if n > 0 {
		s.opts.Logger.Info("retention: swept abandoned uploads", "stagedFiles", n)
	}
	s.passes.Add(1)
	if !total.IsZero() {
		s.opts.Logger.Info("retention: swept", "chats", total.Chats, "events", total.Events, "files", total.Files,
			"expiredFiles", total.Expired, "fileBytes", total.FileBytes, "tokens", total.Tokens,
			"identities", total.Identities, "leftMessages", total.LeftMessages, "took", time.Since(start).Round(time.Millisecond))
	}
	return total, nil
}

// ErasedReply is what eraseIdentity resolves with.
type ErasedReply struct {
	IdentityID string        `json:"identityId"`
	Erased     bool          `json:"erased"`
	ChatIDs    []string      `json:"chatIds"`
	Deleted    store.Removed `json:"deleted"`
	Ended      int           `json:"ended"` // open chats ended first
}

// erase deletes an identity and everything of it; see the package doc.
func (s *Service) erase(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		IdentityID string `json:"identityId"`
		ChatID     string `json:"chatId"`
	}
	if err := bus.DecodeOptions(call.Options, &o); err != nil {
		return nil, err
	}
	id := o.IdentityID
	switch {
	case id == "" && o.ChatID == "":
		return nil, ErrNeedID
	case id == "":
		c, err := s.st.Chat(ctx, o.ChatID)
		if errors.Is(err, model.ErrNotFound) {
			return nil, ErrNoChat
		}
		if err != nil {
			return nil, err
		}
		if id = c.IdentityID; id == "" {
			return nil, ErrNoIdentity
		}
	}
	chats, err := s.st.ChatsOfIdentity(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(chats) == 0 {
		_, err := s.st.Identity(ctx, id)
		if errors.Is(err, model.ErrNotFound) {
			// Messages may outlive their identity record in a store whose
			// sweeps predate left messages: they are still the identity's.
			var left []model.LeftMessage
			if left, err = s.st.LeftMessagesOf(ctx, id, 1); err == nil && len(left) == 0 {
				return nil, ErrNoIdentity
			}
		}
		if err != nil {
			return nil, err
		}
	}
	// Open chats end first, as any end does: agents are told, the
	// visitor's connections too, and the engine forgets them.
	ended := 0
	for _, c := range chats {
		if c.State == model.StateEnded {
			continue
		}
		_, err := s.engine.End(ctx, c.ID, model.System, model.EndedByErased)
		switch {
		case err == nil:
			ended++
		case errors.Is(err, engine.ErrEnded), errors.Is(err, engine.ErrNotFound):
		default:
			return nil, fmt.Errorf("lifecycle: end chat %s before erasing: %w", c.ID, err)
		}
	}
	var notices func(store.Erasure) []model.OutboxEntry
	if s.hooks != nil {
		notices = func(e store.Erasure) []model.OutboxEntry { return s.hooks.Erased(id, e) }
	}
	e, err := s.st.EraseIdentity(ctx, id, notices)
	if errors.Is(err, model.ErrNotFound) {
		return nil, ErrNoIdentity // erased meanwhile
	}
	if err != nil {
		return nil, err
	}
	if s.hooks != nil {
		s.hooks.Wake()
	}
	s.statsMu.Lock()
	s.stats.Erased.Add(e.Removed)
	s.stats.Erasures++
	s.statsMu.Unlock()
	s.opts.Logger.Info("erasure: identity erased", "identity", id, "chats", e.Chats, "events", e.Events,
		"files", e.Files, "tokens", e.Tokens, "leftMessages", e.LeftMessages, "deliveries", e.Deliveries, "ended", ended, "remote", call.Caller.Remote)
	if e.ChatIDs == nil {
		e.ChatIDs = []string{}
	}
	return ErasedReply{IdentityID: id, Erased: true, ChatIDs: e.ChatIDs, Deleted: e.Removed, Ended: ended}, nil
}
