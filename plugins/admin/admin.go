package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/store"
)

// Name is the plugin's bus name.
const Name = "AdminService"

// Store is what the plugin needs of the store: the directory.
type Store interface {
	Directory(ctx context.Context) (store.Directory, error)
	SeedDirectory(ctx context.Context, d store.Directory) (bool, error)
	ReplaceDirectory(ctx context.Context, d store.Directory) error
	PutEntry(ctx context.Context, kind store.DirectoryKind, id string, value []byte) error
	DeleteEntry(ctx context.Context, kind store.DirectoryKind, id string) error
}

var _ Store = (*store.Store)(nil)

// Options configure the plugin.
type Options struct {
	Logger *slog.Logger // nil for slog.Default()
}

// Service is the AdminService plugin.
type Service struct {
	engine *engine.Engine
	store  Store
	logger *slog.Logger

	// mu serialises changes: each takes the configuration in force, changes
	// it, persists it and puts it in force before the next one starts.
	mu sync.Mutex
}

// Register registers the plugin's commands on b. Only admin callers may use
// them; everyone else is rejected with bus.ErrForbidden.
func Register(b *bus.Bus, e *engine.Engine, st Store, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	p, err := b.RegisterPlugin(Name)
	if err != nil {
		return nil, err
	}
	s := &Service{engine: e, store: st, logger: o.Logger}
	for _, err := range []error{
		register(p, s, deployments),
		register(p, s, queues),
		register(p, s, agents),
		register(p, s, webhooks),
	} {
		if err != nil {
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

// persistTimeout bounds a change's store write and reconfiguration. They run
// even if the client gives up, so that what is stored and what runs agree.
const persistTimeout = 10 * time.Second

// apply makes one change: edit works on a copy of the configuration in force;
// the result gets its defaults and is validated as a whole, then persist
// writes the changed entry and only then the engine takes the new
// configuration. A change that fails at any step leaves both the store and
// the running configuration as they were. Agents' tokens are replaced by
// their hashes before anything is stored or put in force.
func (s *Service) apply(ctx context.Context, edit func(c *config.Config) error, persist func(ctx context.Context, c *config.Config) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.engine.Config()
	next := cloneDirectory(prev)
	if err := edit(&next); err != nil {
		return err
	}
	next.ApplyDefaults()
	if err := next.Validate(); err != nil {
		return errInvalidConfig(err)
	}
	stripTokens(&next)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
	defer cancel()
	if err := persist(ctx, &next); err != nil {
		return err
	}
	if err := s.engine.SetConfig(ctx, next); err != nil {
		// Validated above: only a bug gets here, and the store is ahead of
		// the running configuration until the next start.
		s.logger.Error("admin: stored change not put in force", "err", err)
		return err
	}
	s.warnUnsignedIdentities(prev, &next)
	return nil
}

// logChange records who changed what: the admin token is the only admin,
// so "who" is the address it came from.
func (s *Service) logChange(call *bus.Call, action, kind, id string) {
	s.logger.Info("admin change", "action", action, "kind", kind, "id", id, "by", "admin", "remote", call.Caller.Remote)
}

// warnUnsignedIdentities logs each deployment that a change turned to
// unsigned uuids, as the gateway does for every one at start: its visitors'
// conversations are open to whoever knows or guesses a uuid.
func (s *Service) warnUnsignedIdentities(prev, next *config.Config) {
	for _, d := range next.Deployments {
		if old, ok := prev.Deployment(d.Key); d.Identity == config.IdentityUnsignedUUID && (!ok || old.Identity != d.Identity) {
			s.logger.Warn("deployment takes unsigned visitor uuids: anyone who knows or guesses a uuid reads and writes that visitor's conversations; use identity: signed",
				"deployment", d.Key, "identity", d.Identity)
		}
	}
}

// cloneDirectory copies c with its own directory slices, so that a change
// never touches the snapshot in force.
func cloneDirectory(c *config.Config) config.Config {
	next := *c
	next.Deployments = slices.Clone(c.Deployments)
	next.Queues = slices.Clone(c.Queues)
	next.Agents = slices.Clone(c.Agents)
	next.Webhooks = slices.Clone(c.Webhooks)
	return next
}

// stripTokens keeps only the hashes of agents' tokens.
func stripTokens(c *config.Config) {
	for i := range c.Agents {
		c.Agents[i].Token = ""
	}
}

// newSecret returns 32 random bytes, URL-safe: a generated token or secret.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeOptions decodes a command's options as a JSON object of raw fields.
func decodeOptions(opts []byte) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	opts = bytes.TrimSpace(opts)
	if len(opts) == 0 || string(opts) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(opts, &m); err != nil {
		return nil, errInvalidOptions("The options are not a valid JSON object.").Wrap(err)
	}
	return m, nil
}

// stringOption reads the required string field name of opts.
func stringOption(opts map[string]json.RawMessage, name string) (string, error) {
	var v string
	if raw, ok := opts[name]; ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", errInvalidOptions(fmt.Sprintf("%s must be a string.", name))
		}
	}
	if v == "" {
		return "", errInvalidOptions(fmt.Sprintf("%s is required.", name))
	}
	return v, nil
}
