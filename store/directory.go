package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketQueues   = []byte(DirQueues)
	bucketAgents   = []byte(DirAgents)
	bucketWebhooks = []byte(DirWebhooks)
)

// ErrUnknownKind is returned for a DirectoryKind that is not one of
// DirectoryKinds.
var ErrUnknownKind = errors.New("store: unknown directory kind")

func dirBucket(tx *bolt.Tx, kind DirectoryKind) (*bolt.Bucket, error) {
	switch kind {
	case DirDeployments, DirQueues, DirAgents, DirWebhooks:
		return tx.Bucket([]byte(kind)), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
}

// Directory reads the whole directory in one read transaction.
func (s *Store) Directory(ctx context.Context) (Directory, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := Directory{}
	err := s.view(func(tx *bolt.Tx) error {
		for _, kind := range DirectoryKinds {
			b, err := dirBucket(tx, kind)
			if err != nil {
				return err
			}
			es := []Entry{}
			err = b.ForEach(func(k, v []byte) error {
				es = append(es, Entry{ID: string(k), Value: bytes.Clone(v)})
				return nil
			})
			if err != nil {
				return err
			}
			d[kind] = es
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read directory: %w", err)
	}
	return d, nil
}

// SeedDirectory writes d, in one transaction, if the stored directory is
// empty, and reports whether it did. A directory that has entries is left as
// it is.
func (s *Store) SeedDirectory(ctx context.Context, d Directory) (seeded bool, err error) {
	for kind, es := range d {
		if !slices.Contains(DirectoryKinds, kind) {
			return false, fmt.Errorf("store: seed directory: %w: %q", ErrUnknownKind, kind)
		}
		for _, e := range es {
			if e.ID == "" {
				return false, fmt.Errorf("store: seed directory: %s entry without id", kind)
			}
		}
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		seeded = false
		for _, kind := range DirectoryKinds {
			if k, _ := tx.Bucket([]byte(kind)).Cursor().First(); k != nil {
				return nil
			}
		}
		for kind, es := range d {
			b := tx.Bucket([]byte(kind))
			for _, e := range es {
				if err := b.Put([]byte(e.ID), e.Value); err != nil {
					return err
				}
			}
		}
		seeded = true
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return false, fmt.Errorf("store: seed directory: %w", err)
	}
	return seeded, nil
}

// PutEntry creates or replaces the entry id of kind.
func (s *Store) PutEntry(ctx context.Context, kind DirectoryKind, id string, value []byte) error {
	if id == "" {
		return fmt.Errorf("store: %s entry without id", kind)
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		b, err := dirBucket(tx, kind)
		if err != nil {
			return skip{err}
		}
		return b.Put([]byte(id), value)
	}
	if err := s.submit(ctx, o); err != nil {
		return fmt.Errorf("store: put %s %s: %w", kind, id, err)
	}
	return nil
}

// DeleteEntry removes the entry id of kind; ErrNotFound if there is none.
func (s *Store) DeleteEntry(ctx context.Context, kind DirectoryKind, id string) error {
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		b, err := dirBucket(tx, kind)
		if err != nil {
			return skip{err}
		}
		if b.Get([]byte(id)) == nil {
			return skip{model.ErrNotFound}
		}
		return b.Delete([]byte(id))
	}
	if err := s.submit(ctx, o); err != nil {
		return fmt.Errorf("store: delete %s %s: %w", kind, id, err)
	}
	return nil
}

// ReplaceDirectory makes d the whole directory, in one transaction: every
// entry of a kind d names is removed, then d's are written.
func (s *Store) ReplaceDirectory(ctx context.Context, d Directory) error {
	for kind, es := range d {
		if !slices.Contains(DirectoryKinds, kind) {
			return fmt.Errorf("store: replace directory: %w: %q", ErrUnknownKind, kind)
		}
		for _, e := range es {
			if e.ID == "" {
				return fmt.Errorf("store: replace directory: %s entry without id", kind)
			}
		}
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		for kind, es := range d {
			name := []byte(kind)
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
			b, err := tx.CreateBucket(name)
			if err != nil {
				return err
			}
			for _, e := range es {
				if err := b.Put([]byte(e.ID), e.Value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return fmt.Errorf("store: replace directory: %w", err)
	}
	return nil
}
