package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// NewChat is what CreateChat writes.
type NewChat struct {
	Chat      Chat
	Identity  *Identity // created or replaced when set
	TokenHash []byte    // the visitor token's hash; no token is stored when empty
	StartKey  string    // the client's request id; "" when the start is not idempotent
	Events    []Event   // the first events (seqs assigned here)
}

// CreateChat stores a new chat with its token and first events. When
// StartKey was already used on the chat's deployment, nothing is written and
// the chat it created is returned with existing = true. A chat id already
// taken is ErrExists.
func (s *Store) CreateChat(ctx context.Context, n NewChat) (c Chat, existing bool, err error) {
	if n.Chat.ID == "" {
		return Chat{}, false, errors.New("store: create chat: empty chat id")
	}
	var startKey []byte
	if n.StartKey != "" {
		h := sha256.Sum256([]byte(n.Chat.Deployment + "\x00" + n.StartKey))
		startKey = h[:]
	}
	// Results are only read after a successful submit: the writer may still
	// run apply after submit gave up on ctx.
	var (
		out    Chat
		exists bool
	)
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		exists = false
		if startKey != nil {
			if id := tx.Bucket(bucketStarts).Get(startKey); id != nil {
				ch, err := getChat(tx, string(id))
				if err != nil {
					return skip{err}
				}
				out, exists = ch, true
				return nil
			}
		}
		if tx.Bucket(bucketChats).Get([]byte(n.Chat.ID)) != nil {
			return skip{fmt.Errorf("%w: chat %s", ErrExists, n.Chat.ID)}
		}
		ch := n.Chat
		ch.LastSeq = 0 // the new events bucket's sequence
		events, err := tx.Bucket(bucketEvents).CreateBucket([]byte(ch.ID))
		if err != nil {
			return err
		}
		evs, err := appendEvents(tx, events, &ch, n.Events, "")
		if err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketChats), ch.ID, ch); err != nil {
			return err
		}
		if ch.State != StateEnded {
			if err := tx.Bucket(bucketOpen).Put([]byte(ch.ID), nil); err != nil {
				return err
			}
		}
		if n.Identity != nil {
			if err := putJSON(tx.Bucket(bucketIdentities), n.Identity.ID, n.Identity); err != nil {
				return err
			}
		}
		if ch.IdentityID != "" {
			if err := tx.Bucket(bucketIdentityChats).Put([]byte(ch.IdentityID+"\x00"+ch.ID), nil); err != nil {
				return err
			}
		}
		if len(n.TokenHash) > 0 {
			tok := Token{Kind: "visitor", ChatID: ch.ID, IdentityID: ch.IdentityID, CreatedAt: ch.CreatedAt}
			if err := putJSON(tx.Bucket(bucketTokens), string(n.TokenHash), tok); err != nil {
				return err
			}
		}
		if startKey != nil {
			if err := tx.Bucket(bucketStarts).Put(startKey, []byte(ch.ID)); err != nil {
				return err
			}
		}
		if err := s.writeOutbox(tx, o, &ch, evs); err != nil {
			return err
		}
		out = ch
		o.committed = &Committed{Chat: ch, Events: evs}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return Chat{}, false, err
	}
	return out, exists, nil
}

// MutateFunc changes a chat and returns the events to append. It runs inside
// the write transaction, possibly more than once: it must depend only on c and
// must not block. Returning an error writes nothing and is returned by Mutate.
// Changes to c.ID and c.LastSeq are ignored: the store owns them.
type MutateFunc func(c *Chat) ([]Event, error)

// Mutate loads chat id, applies fn, stores the chat and appends fn's events,
// in one transaction. With a requestID, a second Mutate with the same id on
// the same chat writes nothing and returns the events the first one appended
// (replayed = true), also when the first one appended none. An unknown chat
// is ErrNotFound.
func (s *Store) Mutate(ctx context.Context, id, requestID string, fn MutateFunc) (c Chat, evs []Event, replayed bool, err error) {
	// Results are only read after a successful submit: the writer may still
	// run apply after submit gave up on ctx.
	var (
		outChat   Chat
		outEvents []Event
		outReplay bool
	)
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		outReplay, outEvents = false, nil
		ch, err := s.chats.load(tx, id)
		if err != nil {
			return skip{err}
		}
		before := cloneChat(&ch)
		events := tx.Bucket(bucketEvents).Bucket([]byte(id))
		if requestID != "" {
			if v := tx.Bucket(bucketRequests).Get(requestKey(id, requestID)); len(v) == 12 {
				first, n := binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(v[8:])
				var old []Event
				if n > 0 {
					if old, err = readAfter(events, first-1, int(n)); err != nil {
						return skip{err}
					}
				}
				outChat, outEvents, outReplay = ch, old, true
				return nil
			}
		}
		wasOpen := ch.State != StateEnded
		add, err := fn(&ch)
		if err != nil {
			return skip{err}
		}
		ch.ID, ch.LastSeq = id, events.Sequence()
		added, err := appendEvents(tx, events, &ch, add, requestID)
		if err != nil {
			return err
		}
		if recordChanged(&before, &ch) {
			if err := putJSON(tx.Bucket(bucketChats), ch.ID, ch); err != nil {
				return err
			}
		}
		s.chats.store(ch)
		switch isOpen := ch.State != StateEnded; {
		case wasOpen && !isOpen:
			err = tx.Bucket(bucketOpen).Delete([]byte(ch.ID))
		case !wasOpen && isOpen:
			err = tx.Bucket(bucketOpen).Put([]byte(ch.ID), nil)
		}
		if err != nil {
			return err
		}
		if err := s.writeOutbox(tx, o, &ch, added); err != nil {
			return err
		}
		outChat, outEvents = ch, added
		o.committed = &Committed{Chat: ch, Events: added}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return Chat{}, nil, false, err
	}
	return outChat, outEvents, outReplay, nil
}

// appendEvents gives each event the chat's next seq and writes it, and
// records requestID against the first of them (or, when add is empty,
// against no event, so that a retry is still a replay).
func appendEvents(tx *bolt.Tx, events *bolt.Bucket, ch *Chat, add []Event, requestID string) ([]Event, error) {
	var out []Event
	if len(add) > 0 {
		out = make([]Event, len(add))
	}
	for i, ev := range add {
		seq, err := events.NextSequence()
		if err != nil {
			return nil, err
		}
		ev.Seq = seq
		if requestID != "" && ev.RequestID == "" {
			ev.RequestID = requestID
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		if err := events.Put(u64(seq), b); err != nil {
			return nil, err
		}
		out[i] = ev
		ch.LastSeq = seq
		if ev.Time > ch.LastActivity {
			ch.LastActivity = ev.Time
		}
	}
	if requestID != "" {
		v := make([]byte, 12)
		binary.BigEndian.PutUint64(v, ch.LastSeq+1-uint64(len(out))) // first seq, or next one if none
		binary.BigEndian.PutUint32(v[8:], uint32(len(out)))
		if err := tx.Bucket(bucketRequests).Put(requestKey(ch.ID, requestID), v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func requestKey(chatID, requestID string) []byte {
	return []byte(chatID + "\x00" + requestID)
}

func getChat(tx *bolt.Tx, id string) (Chat, error) {
	v := tx.Bucket(bucketChats).Get([]byte(id))
	if v == nil {
		return Chat{}, fmt.Errorf("%w: chat %s", ErrNotFound, id)
	}
	var c Chat
	if err := json.Unmarshal(v, &c); err != nil {
		return Chat{}, fmt.Errorf("store: decode chat %s: %w", id, err)
	}
	c.ID = id
	chatPosition(tx, &c)
	return c, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

// Chat reads one chat. It returns ErrNotFound for an unknown id.
func (s *Store) Chat(ctx context.Context, id string) (c Chat, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		c, err = getChat(tx, id)
		return err
	})
	return c, err
}

// OpenChats calls fn for every chat that has not ended.
func (s *Store) OpenChats(ctx context.Context, fn func(Chat) error) error {
	var ids []string
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: list open chats: %w", err)
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := s.Chat(ctx, id)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// EventsAfter reads up to limit events of a chat with seq > after, oldest
// first. An unknown chat is ErrNotFound.
func (s *Store) EventsAfter(ctx context.Context, chatID string, after uint64, limit int) (evs []Event, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(chatID))
		if b == nil {
			return fmt.Errorf("%w: chat %s", ErrNotFound, chatID)
		}
		evs, err = readAfter(b, after, limit)
		return err
	})
	return evs, err
}

func readAfter(b *bolt.Bucket, after uint64, limit int) ([]Event, error) {
	var evs []Event
	if after == math.MaxUint64 || limit <= 0 {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil && len(evs) < limit; k, v = c.Next() {
		var ev Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("store: decode event %d: %w", binary.BigEndian.Uint64(k), err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// EventsBefore reads up to limit events of a chat with seq < before (before 0
// means from the end), returned oldest first.
func (s *Store) EventsBefore(ctx context.Context, chatID string, before uint64, limit int) (evs []Event, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(chatID))
		if b == nil {
			return fmt.Errorf("%w: chat %s", ErrNotFound, chatID)
		}
		c := b.Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else {
			k, v = c.Seek(u64(before))
			if k == nil {
				k, v = c.Last()
			}
			if k != nil && bytes.Compare(k, u64(before)) >= 0 {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(evs) < limit; k, v = c.Prev() {
			var ev Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("store: decode event: %w", err)
			}
			evs = append(evs, ev)
		}
		return nil
	})
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, err
}

// LookupToken returns what a token hash stands for, or ErrNotFound.
func (s *Store) LookupToken(ctx context.Context, hash []byte) (t Token, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTokens).Get(hash)
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &t)
	})
	return t, err
}

// Identity reads one identity, or ErrNotFound.
func (s *Store) Identity(ctx context.Context, id string) (idn Identity, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIdentities).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: identity %s", ErrNotFound, id)
		}
		return json.Unmarshal(v, &idn)
	})
	return idn, err
}
