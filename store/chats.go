package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// CreateChat stores a new chat with its token and first events. When
// StartKey was already used on the chat's deployment, nothing is written and
// the chat it created is returned with existing = true. A chat id already
// taken is ErrExists.
func (s *Store) CreateChat(ctx context.Context, n model.NewChat) (c model.Chat, existing bool, err error) {
	if n.Chat.ID == "" {
		return model.Chat{}, false, errors.New("store: create chat: empty chat id")
	}
	if strings.ContainsFunc(n.Chat.ID, func(r rune) bool { return r < 0x20 }) {
		return model.Chat{}, false, fmt.Errorf("store: create chat: id %q holds a control character", n.Chat.ID)
	}
	var startKey []byte
	if n.StartKey != "" {
		h := sha256.Sum256([]byte(n.Chat.Deployment + "\x00" + n.StartKey))
		startKey = h[:]
	}
	// Results are only read after a successful submit: the writer may still
	// run apply after submit gave up on ctx.
	var (
		out    model.Chat
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
			return skip{fmt.Errorf("%w: chat %s", model.ErrExists, n.Chat.ID)}
		}
		ch := n.Chat
		ch.LastSeq = 0
		evs, err := appendEvents(tx.Bucket(bucketLog), &ch, n.Events, "")
		if err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketChats), ch.ID, ch); err != nil {
			return err
		}
		if ch.State != model.StateEnded {
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
			tok := model.Token{Kind: "visitor", ChatID: ch.ID, IdentityID: ch.IdentityID, CreatedAt: ch.CreatedAt}
			if err := putJSON(tx.Bucket(bucketTokens), string(n.TokenHash), tok); err != nil {
				return err
			}
			if err := tx.Bucket(bucketChatRefs).Put(tokenRef(ch.ID, tok.CreatedAt, n.TokenHash), nil); err != nil {
				return err
			}
		}
		if startKey != nil {
			if err := tx.Bucket(bucketStarts).Put(startKey, []byte(ch.ID)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketChatRefs).Put(startRef(ch.ID, startKey), nil); err != nil {
				return err
			}
		}
		if err := s.writeChange(tx, o, &ch, evs); err != nil {
			return err
		}
		out = ch
		o.committed = &model.Committed{Chat: ch, Events: evs}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return model.Chat{}, false, err
	}
	return out, exists, nil
}

// Mutate loads chat id, applies fn, stores the chat and appends fn's events,
// in one transaction. With a requestID, a second Mutate with the same id on
// the same chat writes nothing and returns the events the first one appended
// (replayed = true), as long as they are among the chat's newest 64 events;
// one that appended none is recognized while the writer still holds the chat
// in memory (see the package doc). An unknown chat is ErrNotFound.
func (s *Store) Mutate(ctx context.Context, id, requestID string, fn model.MutateFunc) (c model.Chat, evs []model.Event, replayed bool, err error) {
	return s.mutate(ctx, id, requestID, fn, nil)
}

// mutate is Mutate; then, when fn appended its events (not for a replay),
// also runs in the transaction with the chat as it will be stored and the
// appended events. An error of then aborts the write.
func (s *Store) mutate(ctx context.Context, id, requestID string, fn model.MutateFunc,
	then func(tx *bolt.Tx, c *model.Chat, added []model.Event) error) (c model.Chat, evs []model.Event, replayed bool, err error) {
	// Results are only read after a successful submit: the writer may still
	// run apply after submit gave up on ctx.
	var (
		outChat   model.Chat
		outEvents []model.Event
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
		log := tx.Bucket(bucketLog)
		if requestID != "" {
			r, seen, err := s.chats.request(log, &ch, requestID)
			if err != nil {
				return skip{err}
			}
			if seen {
				var old []model.Event
				if r.n > 0 {
					if old, err = readAfter(log, id, r.first-1, int(r.n)); err != nil {
						return skip{err}
					}
				}
				outChat, outEvents, outReplay = ch, old, true
				return nil
			}
		}
		wasOpen := ch.State != model.StateEnded
		add, err := fn(&ch)
		if err != nil {
			return skip{err}
		}
		ch.ID, ch.LastSeq = id, before.LastSeq
		added, err := appendEvents(log, &ch, add, requestID)
		if err != nil {
			return err
		}
		if then != nil {
			if err := then(tx, &ch, added); err != nil {
				return err
			}
		}
		if requestID != "" {
			s.chats.addRequest(id, requestID, request{first: before.LastSeq + 1, n: uint32(len(added))})
		}
		if recordChanged(&before, &ch) {
			if err := putJSON(tx.Bucket(bucketChats), ch.ID, ch); err != nil {
				return err
			}
		}
		s.chats.store(ch)
		switch isOpen := ch.State != model.StateEnded; {
		case wasOpen && !isOpen:
			err = tx.Bucket(bucketOpen).Delete([]byte(ch.ID))
			if err == nil {
				err = indexPastChat(tx, &ch)
			}
		case !wasOpen && isOpen:
			err = tx.Bucket(bucketOpen).Put([]byte(ch.ID), nil)
		}
		if err != nil {
			return err
		}
		if err := s.writeChange(tx, o, &ch, added); err != nil {
			return err
		}
		outChat, outEvents = ch, added
		o.committed = &model.Committed{Chat: ch, Events: added}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return model.Chat{}, nil, false, err
	}
	return outChat, outEvents, outReplay, nil
}

// appendEvents gives each event the chat's next seq, tags it with
// requestID and writes it to the log.
func appendEvents(log *bolt.Bucket, ch *model.Chat, add []model.Event, requestID string) ([]model.Event, error) {
	var out []model.Event
	if len(add) > 0 {
		out = make([]model.Event, len(add))
	}
	for i, ev := range add {
		ev.Seq = ch.LastSeq + 1
		if requestID != "" && ev.RequestID == "" {
			ev.RequestID = requestID
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		if err := log.Put(logKey(ch.ID, ev.Seq), b); err != nil {
			return nil, err
		}
		out[i] = ev
		ch.LastSeq = ev.Seq
		if ev.Time > ch.LastActivity {
			ch.LastActivity = ev.Time
		}
	}
	return out, nil
}

func getChat(tx *bolt.Tx, id string) (model.Chat, error) {
	v := tx.Bucket(bucketChats).Get([]byte(id))
	if v == nil {
		return model.Chat{}, fmt.Errorf("%w: chat %s", model.ErrNotFound, id)
	}
	var c model.Chat
	if err := json.Unmarshal(v, &c); err != nil {
		return model.Chat{}, fmt.Errorf("store: decode chat %s: %w", id, err)
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
func (s *Store) Chat(ctx context.Context, id string) (c model.Chat, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		c, err = getChat(tx, id)
		return err
	})
	return c, err
}

// OpenChats calls fn for every chat that has not ended.
func (s *Store) OpenChats(ctx context.Context, fn func(model.Chat) error) error {
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
func (s *Store) EventsAfter(ctx context.Context, chatID string, after uint64, limit int) (evs []model.Event, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketChats).Get([]byte(chatID)) == nil {
			return fmt.Errorf("%w: chat %s", model.ErrNotFound, chatID)
		}
		evs, err = readAfter(tx.Bucket(bucketLog), chatID, after, limit)
		return err
	})
	return evs, err
}

// EventsBefore reads up to limit events of a chat with seq < before (before 0
// means from the end), returned oldest first. An unknown chat is ErrNotFound.
func (s *Store) EventsBefore(ctx context.Context, chatID string, before uint64, limit int) (evs []model.Event, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketChats).Get([]byte(chatID)) == nil {
			return fmt.Errorf("%w: chat %s", model.ErrNotFound, chatID)
		}
		evs, err = readBefore(tx.Bucket(bucketLog), chatID, before, limit)
		return err
	})
	slices.Reverse(evs)
	return evs, err
}

// LookupToken returns what a token hash stands for, or ErrNotFound.
func (s *Store) LookupToken(ctx context.Context, hash []byte) (t model.Token, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTokens).Get(hash)
		if v == nil {
			return model.ErrNotFound
		}
		return json.Unmarshal(v, &t)
	})
	return t, err
}

// Identity reads one identity, or ErrNotFound.
func (s *Store) Identity(ctx context.Context, id string) (idn model.Identity, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIdentities).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: identity %s", model.ErrNotFound, id)
		}
		return json.Unmarshal(v, &idn)
	})
	return idn, err
}
