package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
)

// ErrUnknownKind is returned for a DirectoryKind that is not one of
// model.DirectoryKinds.
var ErrUnknownKind = errors.New("pgstore: unknown directory kind")

// checkKind is ErrUnknownKind for a kind the directory does not have.
func checkKind(kind model.DirectoryKind) error {
	if !slices.Contains(model.DirectoryKinds, kind) {
		return fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	return nil
}

// checkDirectory refuses a directory with an unknown kind or an entry
// without id, before anything is written.
func checkDirectory(d model.Directory) error {
	for kind, es := range d {
		if err := checkKind(kind); err != nil {
			return err
		}
		for _, e := range es {
			if e.ID == "" {
				return fmt.Errorf("%s entry without id", kind)
			}
		}
	}
	return nil
}

// Directory reads the whole directory in one statement (one snapshot).
func (s *Store) Directory(ctx context.Context) (model.Directory, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	d := model.Directory{}
	for _, kind := range model.DirectoryKinds {
		d[kind] = []model.Entry{}
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, id, value FROM directory ORDER BY kind, id`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read directory: %w", s.closedOr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind string
			e    model.Entry
		)
		if err := rows.Scan(&kind, &e.ID, &e.Value); err != nil {
			return nil, fmt.Errorf("pgstore: read directory: %w", err)
		}
		if _, ok := d[model.DirectoryKind(kind)]; ok {
			d[model.DirectoryKind(kind)] = append(d[model.DirectoryKind(kind)], e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: read directory: %w", s.closedOr(err))
	}
	return d, nil
}

// dirLock is the advisory lock key a seed or a replacement of the
// directory holds: two gateways seeding an empty database at once must not
// both find it empty.
const dirLock = 0x63786761746532 // "cxgate2"

// SeedDirectory writes d, in one transaction, if the stored directory is
// empty, and reports whether it did. A directory that has entries is left as
// it is.
func (s *Store) SeedDirectory(ctx context.Context, d model.Directory) (seeded bool, err error) {
	if err := checkDirectory(d); err != nil {
		return false, fmt.Errorf("pgstore: seed directory: %w", err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		seeded = false
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(dirLock)); err != nil {
			return err
		}
		var any bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM directory)`).Scan(&any); err != nil {
			return err
		}
		if any {
			return nil
		}
		if err := putDirectory(ctx, tx, d); err != nil {
			return err
		}
		seeded = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("pgstore: seed directory: %w", err)
	}
	return seeded, nil
}

// putDirectory writes every entry of d in one statement; a later entry of
// the same kind and id wins, as the bbolt store's puts in order do.
func putDirectory(ctx context.Context, tx pgx.Tx, d model.Directory) error {
	var (
		kinds, ids []string
		values     [][]byte
	)
	seen := map[[2]string]int{}
	for kind, es := range d {
		for _, e := range es {
			key := [2]string{string(kind), e.ID}
			v := e.Value
			if v == nil {
				v = []byte{}
			}
			if i, ok := seen[key]; ok {
				values[i] = v
				continue
			}
			seen[key] = len(ids)
			kinds, ids, values = append(kinds, string(kind)), append(ids, e.ID), append(values, v)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO directory (kind, id, value)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
		ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value`, kinds, ids, values)
	return err
}

// PutEntry creates or replaces the entry id of kind.
func (s *Store) PutEntry(ctx context.Context, kind model.DirectoryKind, id string, value []byte) error {
	if id == "" {
		return fmt.Errorf("pgstore: %s entry without id", kind)
	}
	if err := checkKind(kind); err != nil {
		return fmt.Errorf("pgstore: put %s %s: %w", kind, id, err)
	}
	if err := s.open(); err != nil {
		return fmt.Errorf("pgstore: put %s %s: %w", kind, id, err)
	}
	if value == nil {
		value = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO directory (kind, id, value) VALUES ($1, $2, $3)
		ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value`, string(kind), id, value)
	if err != nil {
		return fmt.Errorf("pgstore: put %s %s: %w", kind, id, s.closedOr(err))
	}
	return nil
}

// DeleteEntry removes the entry id of kind; ErrNotFound if there is none.
func (s *Store) DeleteEntry(ctx context.Context, kind model.DirectoryKind, id string) error {
	if err := checkKind(kind); err != nil {
		return fmt.Errorf("pgstore: delete %s %s: %w", kind, id, err)
	}
	if err := s.open(); err != nil {
		return fmt.Errorf("pgstore: delete %s %s: %w", kind, id, err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM directory WHERE kind = $1 AND id = $2`, string(kind), id)
	if err != nil {
		return fmt.Errorf("pgstore: delete %s %s: %w", kind, id, s.closedOr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: delete %s %s: %w", kind, id, model.ErrNotFound)
	}
	return nil
}

// ReplaceDirectory makes d the whole directory, in one transaction: every
// entry of a kind d names is removed, then d's are written.
func (s *Store) ReplaceDirectory(ctx context.Context, d model.Directory) error {
	if err := checkDirectory(d); err != nil {
		return fmt.Errorf("pgstore: replace directory: %w", err)
	}
	kinds := make([]string, 0, len(d))
	for kind := range d {
		kinds = append(kinds, string(kind))
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(dirLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM directory WHERE kind = ANY($1)`, kinds); err != nil {
			return err
		}
		return putDirectory(ctx, tx, d)
	})
	if err != nil {
		return fmt.Errorf("pgstore: replace directory: %w", err)
	}
	return nil
}
