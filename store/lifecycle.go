package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// What a chat's deletion needs beside the buckets keyed by its id: the
// tokens and start keys that name it (chat_refs), and the chats whose
// events are still being deleted after their record went (purge).
var (
	bucketChatRefs = []byte("chat_refs")
	bucketPurge    = []byte("purge")
)

// Kinds of chat_refs entries.
const (
	refToken byte = 't'
	refStart byte = 's'
)

// tokenRef is the chat_refs key of a visitor token: chat id ‖ 0 ‖ 't' ‖
// uint64 createdAt ‖ token hash. A chat's tokens sort oldest first.
func tokenRef(chatID string, createdAt int64, hash []byte) []byte {
	k := make([]byte, 0, len(chatID)+10+len(hash))
	k = append(append(k, chatID...), 0, refToken)
	k = binary.BigEndian.AppendUint64(k, uint64(max(createdAt, 0)))
	return append(k, hash...)
}

// startRef is the chat_refs key of a start key: chat id ‖ 0 ‖ 's' ‖ key.
func startRef(chatID string, key []byte) []byte {
	k := make([]byte, 0, len(chatID)+2+len(key))
	return append(append(append(k, chatID...), 0, refStart), key...)
}

// refsPrefix is what every chat_refs key of a chat starts with.
func refsPrefix(chatID string) []byte { return append([]byte(chatID), 0) }

// initLifecycle creates the lifecycle buckets in Open's transaction. The
// chat_refs index is derived: when the bucket is new (a file made before
// it existed) it is built from the tokens and starts buckets.
func initLifecycle(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketPurge); err != nil {
		return err
	}
	if tx.Bucket(bucketChatRefs) != nil {
		return nil
	}
	refs, err := tx.CreateBucket(bucketChatRefs)
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
		var t model.Token
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("store: decode token: %w", err)
		}
		if t.ChatID == "" {
			return nil
		}
		return refs.Put(tokenRef(t.ChatID, t.CreatedAt, k), nil)
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketStarts).ForEach(func(k, v []byte) error {
		return refs.Put(startRef(string(v), k), nil)
	})
}

// purgeBudget bounds the log keys one write deletes: a chat with more
// events loses its record, indexes and files at once, and its remaining
// events in later writes (see the purge bucket).
const purgeBudget = 4096

// removeChat deletes chat c in tx: its record, open and identity_chats
// entries, tokens and start keys, the files named (those of its
// FileUploaded events), and its events up to *budget of them; the rest of
// its events are left to purgeStep under a purge marker. From the commit
// on, the chat is gone for every reader: they all look up the record first.
func (s *Store) removeChat(tx *bolt.Tx, c *model.Chat, files []string, budget *int, r *Removed) error {
	id := []byte(c.ID)
	refs := tx.Bucket(bucketChatRefs)
	prefix := refsPrefix(c.ID)
	var keys [][]byte
	cur := refs.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := deleteRef(tx, k, len(prefix), r); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := s.removeFile(tx, f, c.ID, r); err != nil {
			return err
		}
	}
	for _, b := range [][]byte{bucketChats, bucketOpen} {
		if err := tx.Bucket(b).Delete(id); err != nil {
			return err
		}
	}
	if err := unpastChat(tx, c); err != nil {
		return err
	}
	if c.IdentityID != "" {
		if err := tx.Bucket(bucketIdentityChats).Delete([]byte(c.IdentityID + "\x00" + c.ID)); err != nil {
			return err
		}
	}
	s.chats.forget(c.ID)
	r.Chats++
	r.Events += int(c.LastSeq) // seqs start at 1 without gaps
	done, err := deleteLog(tx, c.ID, budget)
	if err != nil || done {
		return err
	}
	return tx.Bucket(bucketPurge).Put(id, nil)
}

// deleteRef deletes one chat_refs key and what it names.
func deleteRef(tx *bolt.Tx, k []byte, prefixLen int, r *Removed) error {
	if len(k) > prefixLen {
		switch k[prefixLen] {
		case refToken:
			if len(k) >= prefixLen+9 {
				hash := k[prefixLen+9:]
				if tx.Bucket(bucketTokens).Get(hash) != nil {
					r.Tokens++
				}
				if err := tx.Bucket(bucketTokens).Delete(hash); err != nil {
					return err
				}
			}
		case refStart:
			if err := tx.Bucket(bucketStarts).Delete(k[prefixLen+1:]); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketChatRefs).Delete(k)
}

// removeFile deletes file id of chat chatID, record and content; a file of
// another chat (or none) is left alone.
func (s *Store) removeFile(tx *bolt.Tx, id, chatID string, r *Removed) error {
	f, err := getFile(tx, id)
	if err != nil || f.ChatID != chatID {
		return nil
	}
	if err := tx.Bucket(bucketFiles).Delete([]byte(id)); err != nil {
		return err
	}
	n, err := deleteFileContent(tx, id)
	r.Files++
	r.FileBytes += n
	return err
}

// deleteFileContent deletes a file's content, its chunks or (written before
// chunks) its whole value, and returns its size.
func deleteFileContent(tx *bolt.Tx, id string) (int64, error) {
	data := tx.Bucket(bucketFileData)
	n := int64(len(data.Get([]byte(id))))
	if err := data.Delete([]byte(id)); err != nil {
		return n, err
	}
	prefix := append([]byte(id), 0)
	var keys [][]byte
	c := data.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		keys = append(keys, bytes.Clone(k))
		n += int64(len(v))
	}
	for _, k := range keys {
		if err := data.Delete(k); err != nil {
			return n, err
		}
	}
	return n, nil
}

// deleteLog deletes up to *budget of chat chatID's events, taking them from
// the budget; done reports whether none is left.
func deleteLog(tx *bolt.Tx, chatID string, budget *int) (done bool, err error) {
	log := tx.Bucket(bucketLog)
	prefix := logPrefix(chatID)
	var keys [][]byte
	c := log.Cursor()
	k, _ := c.Seek(prefix)
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(keys) < *budget; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	done = k == nil || !bytes.HasPrefix(k, prefix)
	for _, k := range keys {
		if err := log.Delete(k); err != nil {
			return false, err
		}
	}
	*budget -= len(keys)
	return done, nil
}

// purgeStep deletes the leftover events of removed chats, within *budget,
// and the markers of those finished.
func purgeStep(tx *bolt.Tx, budget *int) error {
	purge := tx.Bucket(bucketPurge)
	var ids [][]byte
	c := purge.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < 64; k, _ = c.Next() {
		ids = append(ids, bytes.Clone(k))
	}
	for _, id := range ids {
		if *budget <= 0 {
			return nil
		}
		done, err := deleteLog(tx, string(id), budget)
		if err != nil {
			return err
		}
		if done {
			if err := purge.Delete(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileIDsOf reads the ids of the files a chat's FileUploaded events name.
func fileIDsOf(tx *bolt.Tx, c *model.Chat) ([]string, error) {
	if c.Files == 0 {
		return nil, nil
	}
	var ids []string
	prefix := logPrefix(c.ID)
	cur := tx.Bucket(bucketLog).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if !bytes.Contains(v, []byte(`"`+model.EventFileUploaded+`"`)) {
			continue
		}
		var ev struct {
			Type model.EventType `json:"type"`
			Data struct {
				ID string `json:"file-id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("store: decode event of chat %s: %w", c.ID, err)
		}
		if ev.Type == model.EventFileUploaded && ev.Data.ID != "" {
			ids = append(ids, ev.Data.ID)
		}
	}
	return ids, nil
}

// Size is the store file's size in bytes: what the disk holds, free pages
// included (see the package doc on space).
func (s *Store) Size() (int64, error) {
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return 0, fmt.Errorf("store: size: %w", err)
	}
	return fi.Size(), nil
}

// KeyCounts counts the keys of every top-level bucket, for operators and
// tests: it walks every bucket, so it is not for a hot path.
func (s *Store) KeyCounts() (map[string]int, error) {
	out := map[string]int{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out[string(name)] = b.Stats().KeyN
			return nil
		})
	})
	return out, err
}
