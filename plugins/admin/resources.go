package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// resource describes one kind of the directory to the generic commands:
// where its entries live in the configuration, what names them, and its
// secrets.
type resource[T any] struct {
	kind    store.DirectoryKind
	name    string   // "deployment": in command names, options and messages
	idField string   // "key": the field that names an entry
	secrets []string // fields never sent back: write-only
	never   []string // fields never stored either
	items   func(c *config.Config) *[]T
	id      func(v *T) *string
	// keep copies into an update the secrets it left out, from the entry it
	// replaces. Optional.
	keep func(old T, next *T)
	// fill completes a new entry (a generated token or secret) and returns
	// the fields, as name, value pairs, to send back once. Optional.
	fill func(v *T) ([]string, error)
	// inUse says why the entry may not be deleted, "" if it may. Optional.
	inUse func(s *Service, c *config.Config, id string) string
}

// Title is the name with a capital, as in command names.
func (r *resource[T]) title() string {
	rs := []rune(r.name)
	rs[0] = unicode.ToUpper(rs[0])
	return string(rs)
}

// register adds list<Kinds>, get<Kind>, create<Kind>, update<Kind> and
// delete<Kind>.
func register[T any](p *bus.Plugin, s *Service, r *resource[T]) error {
	plural := strings.ToUpper(string(r.kind[:1])) + string(r.kind[1:])
	for _, c := range []struct {
		name string
		h    bus.HandlerFunc
	}{
		{"list" + plural, func(ctx context.Context, call *bus.Call) (any, error) { return r.list(s) }},
		{"get" + r.title(), func(ctx context.Context, call *bus.Call) (any, error) { return r.get(s, call) }},
		{"create" + r.title(), func(ctx context.Context, call *bus.Call) (any, error) { return r.create(ctx, s, call) }},
		{"update" + r.title(), func(ctx context.Context, call *bus.Call) (any, error) { return r.update(ctx, s, call) }},
		{"delete" + r.title(), func(ctx context.Context, call *bus.Call) (any, error) { return r.remove(ctx, s, call) }},
	} {
		if err := p.RegisterCommand(c.name, adminOnly(c.h)); err != nil {
			return err
		}
	}
	return nil
}

func (r *resource[T]) index(list []T, id string) int {
	return slices.IndexFunc(list, func(v T) bool { return *r.id(&v) == id })
}

// wire encodes an entry for a client: without its secrets.
func (r *resource[T]) wire(v T) ([]byte, error) {
	return encodeJSON(v, append(slices.Clone(r.secrets), r.never...)...)
}

// stored encodes an entry for the store.
func (r *resource[T]) stored(v T) ([]byte, error) {
	return encodeJSON(v, r.never...)
}

// put persists the entry id of c.
func (r *resource[T]) put(ctx context.Context, s *Service, c *config.Config, id string) error {
	list := *r.items(c)
	i := r.index(list, id)
	if i < 0 {
		return fmt.Errorf("admin: %s %q vanished from the change", r.name, id)
	}
	data, err := r.stored(list[i])
	if err != nil {
		return err
	}
	return s.store.PutEntry(ctx, r.kind, id, data)
}

func (r *resource[T]) list(s *Service) (any, error) {
	out := fmt.Appendf(nil, `{%q:[`, string(r.kind))
	for i, v := range *r.items(s.engine.Config()) {
		data, err := r.wire(v)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, data...)
	}
	return json.RawMessage(append(out, "]}"...)), nil
}

// target decodes a call's options and the id of the entry they name.
func (r *resource[T]) target(call *bus.Call) (map[string]json.RawMessage, string, error) {
	opts, err := decodeOptions(call.Options)
	if err != nil {
		return nil, "", err
	}
	id, err := stringOption(opts, r.idField)
	return opts, id, err
}

func (r *resource[T]) get(s *Service, call *bus.Call) (any, error) {
	_, id, err := r.target(call)
	if err != nil {
		return nil, err
	}
	list := *r.items(s.engine.Config())
	i := r.index(list, id)
	if i < 0 {
		return nil, errNotFound(r.name, id)
	}
	data, err := r.wire(list[i])
	return json.RawMessage(data), err
}

// decode reads an entry from a client's JSON.
func (r *resource[T]) decode(data []byte) (T, error) {
	var v T
	if err := decodeJSON(data, &v); err != nil {
		return v, errInvalidOptions(fmt.Sprintf("The %s is not valid: %v.", r.name, err))
	}
	return v, nil
}

// create adds the entry given as the options.
func (r *resource[T]) create(ctx context.Context, s *Service, call *bus.Call) (any, error) {
	v, err := r.decode(call.Options)
	if err != nil {
		return nil, err
	}
	var once []string
	if r.fill != nil {
		if once, err = r.fill(&v); err != nil {
			return nil, err
		}
	}
	id := *r.id(&v) // empty for a webhook that takes a generated id
	var created T
	err = s.apply(ctx, func(c *config.Config) error {
		list := r.items(c)
		if id != "" && r.index(*list, id) >= 0 {
			return errAlreadyExists(r.name, id)
		}
		*list = append(*list, v)
		return nil
	}, func(ctx context.Context, c *config.Config) error {
		list := *r.items(c)
		created = list[len(list)-1] // with its defaults
		return r.put(ctx, s, c, *r.id(&created))
	})
	if err != nil {
		return nil, err
	}
	s.logChange(call, "created", r.name, *r.id(&created))
	data, err := r.wire(created)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(withFields(data, once...)), nil
}

// update replaces the entry named in the options by the one given beside it.
// Secrets it leaves out are kept.
func (r *resource[T]) update(ctx context.Context, s *Service, call *bus.Call) (any, error) {
	opts, id, err := r.target(call)
	if err != nil {
		return nil, err
	}
	body, ok := opts[r.name]
	if !ok {
		return nil, errInvalidOptions(fmt.Sprintf("%s is required: the new %s.", r.name, r.name))
	}
	v, err := r.decode(body)
	if err != nil {
		return nil, err
	}
	if got := *r.id(&v); got != "" && got != id {
		return nil, errInvalidOptions(fmt.Sprintf("The %s's %s cannot change (%q to %q): create a new one and delete the old.", r.name, r.idField, id, got))
	}
	*r.id(&v) = id
	var updated T
	err = s.apply(ctx, func(c *config.Config) error {
		list := r.items(c)
		i := r.index(*list, id)
		if i < 0 {
			return errNotFound(r.name, id)
		}
		if r.keep != nil {
			r.keep((*list)[i], &v)
		}
		(*list)[i] = v
		return nil
	}, func(ctx context.Context, c *config.Config) error {
		list := *r.items(c)
		updated = list[r.index(list, id)]
		return r.put(ctx, s, c, id)
	})
	if err != nil {
		return nil, err
	}
	s.logChange(call, "updated", r.name, id)
	data, err := r.wire(updated)
	return json.RawMessage(data), err
}

// remove deletes the entry named in the options.
func (r *resource[T]) remove(ctx context.Context, s *Service, call *bus.Call) (any, error) {
	_, id, err := r.target(call)
	if err != nil {
		return nil, err
	}
	err = s.apply(ctx, func(c *config.Config) error {
		list := r.items(c)
		i := r.index(*list, id)
		if i < 0 {
			return errNotFound(r.name, id)
		}
		if r.inUse != nil {
			if why := r.inUse(s, c, id); why != "" {
				return errInUse(why)
			}
		}
		*list = slices.Delete(*list, i, i+1)
		return nil
	}, func(ctx context.Context, c *config.Config) error {
		err := s.store.DeleteEntry(ctx, r.kind, id)
		if errors.Is(err, model.ErrNotFound) {
			return nil // already gone: deleting is idempotent
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.logChange(call, "deleted", r.name, id)
	return map[string]any{r.idField: id, "deleted": true}, nil
}

// The four kinds of the directory.
var (
	deployments = &resource[config.Deployment]{
		kind: store.DirDeployments, name: "deployment", idField: "key",
		secrets: []string{"jwtSecret"},
		items:   func(c *config.Config) *[]config.Deployment { return &c.Deployments },
		id:      func(v *config.Deployment) *string { return &v.Key },
		keep: func(old config.Deployment, next *config.Deployment) {
			if next.JWTSecret == "" {
				next.JWTSecret = old.JWTSecret
			}
		},
	}
	queues = &resource[config.Queue]{
		kind: store.DirQueues, name: "queue", idField: "name",
		items: func(c *config.Config) *[]config.Queue { return &c.Queues },
		id:    func(v *config.Queue) *string { return &v.Name },
		inUse: func(s *Service, c *config.Config, name string) string {
			var users []string
			for _, d := range c.Deployments {
				if d.Queue == name {
					users = append(users, d.Key)
				}
			}
			if len(users) > 0 {
				return fmt.Sprintf("Queue %q is the queue of deployment(s) %s: change them first.", name, strings.Join(users, ", "))
			}
			if n := s.engine.QueuedIn(name); n > 0 {
				return fmt.Sprintf("Queue %q has %d chat(s) waiting.", name, n)
			}
			return ""
		},
	}
	agents = &resource[config.Agent]{
		kind: store.DirAgents, name: "agent", idField: "id",
		secrets: []string{"tokenHash"},
		never:   []string{"token"},
		items:   func(c *config.Config) *[]config.Agent { return &c.Agents },
		id:      func(v *config.Agent) *string { return &v.ID },
		keep: func(old config.Agent, next *config.Agent) {
			if next.Token == "" && next.TokenHash == "" {
				next.TokenHash = old.TokenHash
			}
		},
		fill: func(v *config.Agent) ([]string, error) {
			if v.Token != "" || v.TokenHash != "" {
				return nil, nil
			}
			v.Token = newSecret()
			return []string{"token", v.Token}, nil
		},
	}
	webhooks = &resource[config.Webhook]{
		kind: store.DirWebhooks, name: "webhook", idField: "id",
		secrets: []string{"secret"},
		items:   func(c *config.Config) *[]config.Webhook { return &c.Webhooks },
		id:      func(v *config.Webhook) *string { return &v.ID },
		keep: func(old config.Webhook, next *config.Webhook) {
			if next.Secret == "" {
				next.Secret = old.Secret
			}
		},
		fill: func(v *config.Webhook) ([]string, error) {
			if v.ID == "deliveries" {
				return nil, errInvalidOptions(`The webhook id "deliveries" is reserved.`)
			}
			if v.Secret != "" {
				return nil, nil
			}
			v.Secret = newSecret()
			return []string{"secret", v.Secret}, nil
		},
	}
)
