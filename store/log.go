package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// Every chat's events live in one bucket, log, keyed by the chat id, a zero
// byte and the seq big-endian: a chat's events are contiguous and in seq
// order, and an append dirties one leaf page, the chat's newest. One nested
// bucket per chat (schema 2) dirtied the chat's leaf, its bucket's branch
// page and the parent's page holding the bucket header on every append: in
// a commit of many chats' messages that was most of what was written and
// synced.

// logKey is the key of a chat's event seq. Chat ids never hold a zero byte
// (CreateChat refuses them), so one chat's range never reaches into another's.
func logKey(chatID string, seq uint64) []byte {
	k := make([]byte, len(chatID)+9)
	copy(k, chatID)
	binary.BigEndian.PutUint64(k[len(chatID)+1:], seq)
	return k
}

// logPrefix is what every key of a chat's events starts with.
func logPrefix(chatID string) []byte {
	return append([]byte(chatID), 0)
}

// logSeq is the seq of a log key of the chat whose prefix is given; ok is
// false when the key is another chat's.
func logSeq(prefix, k []byte) (seq uint64, ok bool) {
	if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), true
}

// lastEvent finds a chat's newest event: its seq (0 when it has none) and
// its stored value.
func lastEvent(log *bolt.Bucket, chatID string) (uint64, []byte) {
	prefix := logPrefix(chatID)
	c := log.Cursor()
	// The chat's range ends before the id followed by byte 1.
	var k, v []byte
	if k, _ = c.Seek(append([]byte(chatID), 1)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	seq, ok := logSeq(prefix, k)
	if !ok {
		return 0, nil
	}
	return seq, v
}

// readAfter reads up to limit events of a chat with seq > after, oldest
// first.
func readAfter(log *bolt.Bucket, chatID string, after uint64, limit int) ([]model.Event, error) {
	if after == math.MaxUint64 || limit <= 0 {
		return nil, nil
	}
	prefix := logPrefix(chatID)
	var evs []model.Event
	c := log.Cursor()
	for k, v := c.Seek(logKey(chatID, after+1)); len(evs) < limit; k, v = c.Next() {
		seq, ok := logSeq(prefix, k)
		if !ok {
			break
		}
		var ev model.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("store: decode event %s/%d: %w", chatID, seq, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// readBefore reads up to limit events of a chat with seq < before (0: from
// the newest), newest first.
func readBefore(log *bolt.Bucket, chatID string, before uint64, limit int) ([]model.Event, error) {
	prefix := logPrefix(chatID)
	c := log.Cursor()
	from := logKey(chatID, before)
	if before == 0 {
		from = append([]byte(chatID), 1)
	}
	var k, v []byte
	if k, _ = c.Seek(from); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var evs []model.Event
	for ; len(evs) < limit; k, v = c.Prev() {
		seq, ok := logSeq(prefix, k)
		if !ok {
			break
		}
		var ev model.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("store: decode event %s/%d: %w", chatID, seq, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// flattenEvents moves schema 2's per-chat event buckets (events/<chat id>/
// seq) into the log bucket and drops the requests bucket, whose idempotency
// records are now found from the events' request ids.
func flattenEvents(tx *bolt.Tx) error {
	log := tx.Bucket(bucketLog)
	if events := tx.Bucket([]byte("events")); events != nil {
		err := events.ForEachBucket(func(id []byte) error {
			chatID := string(id)
			return events.Bucket(id).ForEach(func(k, v []byte) error {
				if len(k) != 8 {
					return fmt.Errorf("chat %s: event key %x is not a seq", chatID, k)
				}
				return log.Put(logKey(chatID, binary.BigEndian.Uint64(k)), bytes.Clone(v))
			})
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("events")); err != nil {
			return err
		}
	}
	if tx.Bucket([]byte("requests")) != nil {
		return tx.DeleteBucket([]byte("requests"))
	}
	return nil
}
