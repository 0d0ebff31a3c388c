package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Test hooks for the black-box tests in package store_test.

// QueueLen reports how many writes wait in s's queue for the writer.
func QueueLen(s *Store) int { return len(s.ops) }

// Closing reports whether Close has begun: from then on writes are refused.
func Closing(s *Store) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// PutLegacyFileData writes a file's whole content under its bare id, as
// files were kept before chunks.
func PutLegacyFileData(s *Store, id string, content []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketFileData).Put([]byte(id), content) })
}

// FileDataKeys counts file id's chunk keys.
func FileDataKeys(s *Store, id string) (n int) {
	_ = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketFileData).Cursor()
		prefix := append([]byte(id), 0)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n
}
