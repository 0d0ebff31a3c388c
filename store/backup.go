package store

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store, as of the last
// committed transaction, to w, and returns its size. Writes go on meanwhile,
// but it holds one read transaction until w has taken every byte, and bbolt
// cannot grow its file mapping while a read transaction is open: give it a
// fast writer (a local file), not a slow client. The copy is a store file
// that Open and CheckFile accept as they are.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}
