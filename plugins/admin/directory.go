package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/store"
)

// LoadDirectory returns file with the directory that the store holds in
// place of the file's deployments, queues, agents and webhooks. A store
// without a directory is first seeded with the file's, so the file is the
// directory's starting point and the admin API its only editor afterwards.
// Everything else (addr, data, adminToken, limits) comes from file.
// Agents' tokens are replaced by their hashes.
func LoadDirectory(ctx context.Context, st Store, file config.Config, logger *slog.Logger) (config.Config, error) {
	if logger == nil {
		logger = slog.Default()
	}
	file = cloneDirectory(&file) // the caller's slices stay as they are
	file.ApplyDefaults()
	stripTokens(&file)
	fromFile, err := storedDirectory(&file)
	if err != nil {
		return config.Config{}, fmt.Errorf("admin: encode the configuration's directory: %w", err)
	}
	seeded, err := st.SeedDirectory(ctx, fromFile)
	if err != nil {
		return config.Config{}, err
	}
	d, err := st.Directory(ctx)
	if err != nil {
		return config.Config{}, err
	}
	counts := []any{"deployments", len(d[store.DirDeployments]), "queues", len(d[store.DirQueues]),
		"agents", len(d[store.DirAgents]), "webhooks", len(d[store.DirWebhooks])}
	switch {
	case seeded:
		logger.Info("directory: the store was empty; seeded it from the configuration", counts...)
	case sameDirectory(d, fromFile):
		logger.Info("directory: from the store (the same as the configuration's)", counts...)
	default:
		logger.Warn("directory: from the store; the configuration's deployments, queues, agents and webhooks are ignored "+
			"because the store already has a directory (change it with the admin API under /v1/admin, or start once "+
			"with --import-config to replace it with the file's)", append(counts, "differences", diffDirectory(d, fromFile))...)
	}
	cfg := file
	err = errors.Join(
		decodeEntries(&cfg.Deployments, d, store.DirDeployments),
		decodeEntries(&cfg.Queues, d, store.DirQueues),
		decodeEntries(&cfg.Agents, d, store.DirAgents),
		decodeEntries(&cfg.Webhooks, d, store.DirWebhooks))
	if err != nil {
		return config.Config{}, fmt.Errorf("admin: stored directory: %w", err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("admin: the stored directory is not valid with this configuration: %w", err)
	}
	return cfg, nil
}

// ImportDirectory replaces the store's directory with file's, after
// validating file as a whole, and then loads as LoadDirectory does: the file
// becomes the directory in force, admin changes since included or not.
func ImportDirectory(ctx context.Context, st Store, file config.Config, logger *slog.Logger) (config.Config, error) {
	if logger == nil {
		logger = slog.Default()
	}
	file = cloneDirectory(&file)
	file.ApplyDefaults()
	if err := file.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("admin: import the configuration's directory: %w", err)
	}
	stripTokens(&file)
	fromFile, err := storedDirectory(&file)
	if err != nil {
		return config.Config{}, fmt.Errorf("admin: encode the configuration's directory: %w", err)
	}
	before, err := st.Directory(ctx)
	if err != nil {
		return config.Config{}, err
	}
	if err := st.ReplaceDirectory(ctx, fromFile); err != nil {
		return config.Config{}, err
	}
	logger.Warn("directory: replaced the store's with the configuration's (--import-config)",
		"differences", diffDirectory(before, fromFile))
	return LoadDirectory(ctx, st, file, logger)
}

// diffDirectory names each entry that differs between the stored directory
// and the file's, e.g. "deployments: shop differs, sales only in the file;
// agents: bob only in the store". Both are ordered by id.
func diffDirectory(stored, file store.Directory) string {
	var kinds []string
	for _, kind := range store.DirectoryKinds {
		var items []string
		in := map[string][]byte{}
		for _, e := range stored[kind] {
			in[e.ID] = e.Value
		}
		for _, e := range file[kind] {
			v, ok := in[e.ID]
			switch {
			case !ok:
				items = append(items, e.ID+" only in the file")
			case !bytes.Equal(v, e.Value):
				items = append(items, e.ID+" differs")
			}
			delete(in, e.ID)
		}
		for _, e := range stored[kind] {
			if _, ok := in[e.ID]; ok {
				items = append(items, e.ID+" only in the store")
			}
		}
		if len(items) > 0 {
			kinds = append(kinds, string(kind)+": "+strings.Join(items, ", "))
		}
	}
	if len(kinds) == 0 {
		return "none"
	}
	return strings.Join(kinds, "; ")
}

// storedDirectory encodes the directory of c as the store keeps it.
func storedDirectory(c *config.Config) (store.Directory, error) {
	d := store.Directory{}
	var err error
	if d[store.DirDeployments], err = storedEntries(deployments, c); err != nil {
		return nil, err
	}
	if d[store.DirQueues], err = storedEntries(queues, c); err != nil {
		return nil, err
	}
	if d[store.DirAgents], err = storedEntries(agents, c); err != nil {
		return nil, err
	}
	if d[store.DirWebhooks], err = storedEntries(webhooks, c); err != nil {
		return nil, err
	}
	return d, nil
}

func storedEntries[T any](r *resource[T], c *config.Config) ([]store.Entry, error) {
	out := []store.Entry{}
	for _, v := range *r.items(c) {
		data, err := r.stored(v)
		if err != nil {
			return nil, err
		}
		out = append(out, store.Entry{ID: *r.id(&v), Value: data})
	}
	slices.SortFunc(out, func(a, b store.Entry) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// decodeEntries decodes the stored entries of kind into *dst.
func decodeEntries[T any](dst *[]T, d store.Directory, kind store.DirectoryKind) error {
	out := make([]T, 0, len(d[kind]))
	for _, e := range d[kind] {
		var v T
		if err := decodeJSON(e.Value, &v); err != nil {
			return fmt.Errorf("%s %s: %w", kind, e.ID, err)
		}
		out = append(out, v)
	}
	*dst = out
	return nil
}

// sameDirectory reports whether a and b hold the same entries; both are
// ordered by id.
func sameDirectory(a, b store.Directory) bool {
	for _, kind := range store.DirectoryKinds {
		if !slices.EqualFunc(a[kind], b[kind], func(x, y store.Entry) bool {
			return x.ID == y.ID && bytes.Equal(x.Value, y.Value)
		}) {
			return false
		}
	}
	return true
}
