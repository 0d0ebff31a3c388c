package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cxgate/cxgate/model"
)

// open is ErrClosed once Close began: the pool's own error after Close
// says nothing a caller can test.
func (s *Store) open() error {
	select {
	case <-s.quit:
		return model.ErrClosed
	default:
		return nil
	}
}

// closedOr is ErrClosed for an error met because Close closed the pool
// meanwhile, err otherwise.
func (s *Store) closedOr(err error) error {
	if err != nil && s.open() != nil {
		return fmt.Errorf("%w (%v)", model.ErrClosed, err)
	}
	return err
}

// txRetries bounds how often inTx runs a transaction again after the
// database aborted it for a deadlock or a serialization failure.
const txRetries = 3

// inTx runs fn in a transaction and commits it, again after a deadlock or a
// serialization failure (fn must allow that: it sets its results afresh).
// An error of fn rolls back and is returned as is.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if err := s.open(); err != nil {
		return err
	}
	var err error
	for range txRetries {
		if err = s.runTx(ctx, fn); !retryable(err) {
			break
		}
	}
	return s.closedOr(err)
}

func (s *Store) runTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// notFound reports whether err is a row that is not there.
func notFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
