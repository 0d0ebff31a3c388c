package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// DefaultKeepTokens is how many visitor tokens a chat keeps: every restore
// on another device and every resumed async conversation issues one.
const DefaultKeepTokens = 16

// staleTokens returns the chat_refs keys of chat c's visitor tokens that
// expired (the chat ended more than Restore ago) or are superseded (beyond
// the newest keep).
func staleTokens(tx *bolt.Tx, c *model.Chat, ret model.Retention, now int64, keep int) [][]byte {
	prefix := append(refsPrefix(c.ID), refToken)
	var keys [][]byte
	cur := tx.Bucket(bucketChatRefs).Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	if c.State == model.StateEnded && c.EndedAt+ret.Restore.Milliseconds() < now {
		return keys
	}
	if len(keys) > keep {
		return keys[:len(keys)-keep]
	}
	return nil
}

// seekAfter positions c on the first key after after ("" for the first).
func seekAfter(c *bolt.Cursor, after string) (k, v []byte) {
	if after == "" {
		return c.First()
	}
	k, v = c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	return k, v
}

// SweepChats is one step of a retention sweep over the chats: it reads up
// to scan chats in id order after the chat id after, then in one write
// deletes those past retention (each whole, in that write: record, events,
// files, tokens, start keys, index entries, and the identity when it has no
// chat left) and the expired and superseded tokens of the others, and goes
// on deleting the events of chats too long for one write. next is the id to
// pass as after for the next step, "" when the pass reached the end.
//
// What to delete is read in a read-only transaction; the write checks it
// again, so a chat written to meanwhile stays. The write deletes at most a
// few thousand events: a sweep never holds up other writers for long.
func (s *Store) SweepChats(ctx context.Context, p SweepPolicy, after string, scan int) (next string, removed Removed, err error) {
	now := p.Now.UnixMilli()
	keep := p.KeepTokens
	if keep <= 0 {
		keep = DefaultKeepTokens
	}
	type plan struct {
		id    string
		files []string
	}
	var plans []plan
	var tokens [][]byte
	err = s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketChats).Cursor()
		k, v := seekAfter(cur, after)
		for n := 0; k != nil && n < scan; n++ {
			var c model.Chat
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("store: decode chat %s: %w", k, err)
			}
			c.ID = string(k)
			chatPosition(tx, &c)
			ret := p.Retention(c.Deployment)
			if model.ExpiredChat(&c, ret, now) {
				files, err := fileIDsOf(tx, &c)
				if err != nil {
					return err
				}
				plans = append(plans, plan{c.ID, files})
			} else {
				tokens = append(tokens, staleTokens(tx, &c, ret, now, keep)...)
			}
			next = c.ID
			k, v = cur.Next()
		}
		if k == nil {
			next = ""
		}
		return nil
	})
	if err != nil {
		return "", Removed{}, fmt.Errorf("store: sweep chats: %w", err)
	}
	// Read only after a successful submit. When the write's budget runs
	// out, the chats left are deleted by the next step, which resumes
	// after the last chat handled (the others in between are read again).
	var (
		r        Removed
		lastDone string
		stopped  bool
	)
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		r, lastDone, stopped = Removed{}, "", false
		budget := purgeBudget
		if err := purgeStep(tx, &budget); err != nil {
			return err
		}
		budget = max(budget, purgeBudget/4) // chats of this step get their share
		for _, pl := range plans {
			if budget <= 0 {
				stopped = true
				break
			}
			lastDone = pl.id
			c, err := getChat(tx, pl.id)
			if errors.Is(err, model.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if !model.ExpiredChat(&c, p.Retention(c.Deployment), now) {
				continue // written to since the read
			}
			if err := s.removeChat(tx, &c, pl.files, &budget, &r); err != nil {
				return err
			}
			if err := removeLoneIdentity(tx, c.IdentityID, &r); err != nil {
				return err
			}
		}
		refs := tx.Bucket(bucketChatRefs)
		for _, k := range tokens {
			if refs.Get(k) == nil {
				continue
			}
			if err := deleteRef(tx, k, bytes.IndexByte(k, 0)+1, &r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(plans) == 0 && len(tokens) == 0 && !s.purging() {
		return next, Removed{}, nil
	}
	if err := s.submit(ctx, o); err != nil {
		return "", Removed{}, err
	}
	if stopped {
		next = lastDone
	}
	return next, r, nil
}

// purging reports whether removed chats still have events to delete.
func (s *Store) purging() bool {
	var any bool
	_ = s.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketPurge).Cursor().First()
		any = k != nil
		return nil
	})
	return any
}

// removeLoneIdentity deletes identity id when neither a chat nor a left
// message of it is left.
func removeLoneIdentity(tx *bolt.Tx, id string, r *Removed) error {
	if id == "" {
		return nil
	}
	prefix := []byte(id + "\x00")
	for _, idx := range [][]byte{bucketIdentityChats, bucketIdentityLeft} {
		if k, _ := tx.Bucket(idx).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			return nil
		}
	}
	b := tx.Bucket(bucketIdentities)
	if b.Get([]byte(id)) == nil {
		return nil
	}
	r.Identities++
	return b.Delete([]byte(id))
}

// ExpireFiles is one step of a retention sweep over the files: it reads up
// to scan files in id order after the file id after and, in one write,
// deletes the content of those older than their deployment's files
// retention, marking them expired. next is as for SweepChats.
func (s *Store) ExpireFiles(ctx context.Context, p SweepPolicy, after string, scan int) (next string, removed Removed, err error) {
	now := p.Now.UnixMilli()
	var ids []string
	err = s.view(func(tx *bolt.Tx) error {
		deployments := map[string]string{} // chat id → deployment
		chats := tx.Bucket(bucketChats)
		cur := tx.Bucket(bucketFiles).Cursor()
		k, v := seekAfter(cur, after)
		for n := 0; k != nil && n < scan; n++ {
			var f model.File
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("store: decode file %s: %w", k, err)
			}
			next = string(k)
			k, v = cur.Next()
			if f.Expired != 0 {
				continue
			}
			dep, ok := deployments[f.ChatID]
			if !ok {
				var c struct {
					Deployment string `json:"deployment"`
				}
				if raw := chats.Get([]byte(f.ChatID)); raw != nil {
					_ = json.Unmarshal(raw, &c)
				}
				dep, deployments[f.ChatID] = c.Deployment, c.Deployment
			}
			if ret := p.Retention(dep); ret.Files > 0 && f.Time < now-ret.Files.Milliseconds() {
				ids = append(ids, f.ID)
			}
		}
		if k == nil {
			next = ""
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return next, Removed{}, err
	}
	var r Removed
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		r = Removed{}
		for _, id := range ids {
			f, err := getFile(tx, id)
			if errors.Is(err, model.ErrNotFound) || err == nil && f.Expired != 0 {
				continue
			}
			if err != nil {
				return err
			}
			n, err := deleteFileContent(tx, id)
			if err != nil {
				return err
			}
			f.Expired = now
			if err := putJSON(tx.Bucket(bucketFiles), id, f); err != nil {
				return err
			}
			r.Expired++
			r.FileBytes += n
		}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return "", Removed{}, err
	}
	return next, r, nil
}

// SweepLeftMessages is one step of a retention sweep over the left
// messages: it reads up to scan of them in id order after the message id
// after and, in one write, deletes those whose last write (their answer,
// or their creation while unanswered) is older than their deployment's
// chats retention, with their index entries and their identity when it
// has neither a chat nor another message left. next is as for SweepChats.
// Their webhook deliveries are left to the outbox's own retries and
// PruneDead, as those of swept chats are.
func (s *Store) SweepLeftMessages(ctx context.Context, p SweepPolicy, after string, scan int) (next string, removed Removed, err error) {
	now := p.Now.UnixMilli()
	var ids []string
	err = s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketLeft).Cursor()
		k, v := seekAfter(cur, after)
		for n := 0; k != nil && n < scan; n++ {
			var m model.LeftMessage
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("store: decode left message %s: %w", k, err)
			}
			next = string(k)
			k, v = cur.Next()
			if expiredLeft(&m, p.Retention(m.Deployment), now) {
				ids = append(ids, m.ID)
			}
		}
		if k == nil {
			next = ""
		}
		return nil
	})
	if err != nil {
		return "", Removed{}, fmt.Errorf("store: sweep left messages: %w", err)
	}
	if len(ids) == 0 {
		return next, Removed{}, nil
	}
	var r Removed
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		r = Removed{}
		for _, id := range ids {
			m, err := getLeft(tx, id)
			if errors.Is(err, model.ErrNotFound) {
				continue // erased meanwhile
			}
			if err != nil {
				return err
			}
			if !expiredLeft(&m, p.Retention(m.Deployment), now) {
				continue // answered since the read
			}
			if err := removeLeft(tx, &m, &r); err != nil {
				return err
			}
			if err := removeLoneIdentity(tx, m.IdentityID, &r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return "", Removed{}, err
	}
	return next, r, nil
}

// EraseIdentity deletes an identity and everything of it: every chat of
// it (records, events, files, tokens, start keys, index entries), every
// message it left (record and index entries), the identity record, and the
// webhook deliveries, pending or dead, of those chats and messages. notices, when set, makes outbox entries announcing the erasure
// (given what was deleted); they are written in the same transaction. An
// identity with neither a record nor a chat is ErrNotFound.
//
// It deletes open chats too: end them first, so that agents are told. The
// chats' events beyond a few thousand are deleted by later sweep steps,
// after the chats are gone for every reader.
func (s *Store) EraseIdentity(ctx context.Context, id string, notices func(Erasure) []model.OutboxEntry) (Erasure, error) {
	if id == "" {
		return Erasure{}, fmt.Errorf("%w: identity \"\"", model.ErrNotFound)
	}
	// Which files and deliveries are the identity's is read beforehand:
	// reading event logs and the outbox inside the write would hold up
	// every other writer.
	files := map[string][]string{}
	readLeft := map[string]bool{}
	var pending, dead []uint64
	err := s.view(func(tx *bolt.Tx) error {
		ids := identityChatIDs(tx, id)
		prefixes := make([][]byte, 0, len(ids))
		for _, chatID := range ids {
			c, err := getChat(tx, chatID)
			if err != nil {
				continue
			}
			if files[chatID], err = fileIDsOf(tx, &c); err != nil {
				return err
			}
			prefixes = append(prefixes, []byte(chatID+":"))
		}
		// A left message's deliveries have event ids "<messageId>:<event>".
		for _, msgID := range identityLeftIDs(tx, id) {
			readLeft[msgID] = true
			prefixes = append(prefixes, []byte(msgID+":"))
		}
		var err error
		if pending, err = deliveriesOf(tx, bucketOutbox, prefixes); err != nil {
			return err
		}
		dead, err = deliveriesOf(tx, bucketDead, prefixes)
		return err
	})
	if err != nil {
		return Erasure{}, fmt.Errorf("store: erase identity %s: %w", id, err)
	}
	var out Erasure
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		out = Erasure{}
		r := &out.Removed
		budget := purgeBudget
		var late [][]byte // prefixes of chats and messages written since the read
		for _, chatID := range identityChatIDs(tx, id) {
			c, err := getChat(tx, chatID)
			if errors.Is(err, model.ErrNotFound) {
				// An index entry without its chat: drop it.
				if err := tx.Bucket(bucketIdentityChats).Delete([]byte(id + "\x00" + chatID)); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			fs, ok := files[chatID]
			if !ok { // started since the read
				if fs, err = fileIDsOf(tx, &c); err != nil {
					return err
				}
				late = append(late, []byte(chatID+":"))
			}
			if err := s.removeChat(tx, &c, fs, &budget, r); err != nil {
				return err
			}
			out.ChatIDs = append(out.ChatIDs, chatID)
		}
		for _, msgID := range identityLeftIDs(tx, id) {
			m, err := getLeft(tx, msgID)
			if errors.Is(err, model.ErrNotFound) {
				if err := tx.Bucket(bucketIdentityLeft).Delete([]byte(id + "\x00" + msgID)); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if err := removeLeft(tx, &m, r); err != nil {
				return err
			}
			if !readLeft[msgID] {
				late = append(late, []byte(msgID+":"))
			}
		}
		if b := tx.Bucket(bucketIdentities); b.Get([]byte(id)) != nil {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
			r.Identities++
		}
		if r.Chats == 0 && r.Identities == 0 && r.LeftMessages == 0 {
			return skip{fmt.Errorf("%w: identity %s", model.ErrNotFound, id)}
		}
		pending, dead := pending, dead
		if len(late) > 0 {
			// Rare (a chat or message written between the read and this
			// write): their deliveries are looked up here, holding the
			// writer for one pass over the outbox.
			more, err := deliveriesOf(tx, bucketOutbox, late)
			if err != nil {
				return err
			}
			pending = append(slices.Clip(pending), more...)
			if more, err = deliveriesOf(tx, bucketDead, late); err != nil {
				return err
			}
			dead = append(slices.Clip(dead), more...)
		}
		for _, d := range pending {
			_, ok, err := removePending(tx, d)
			if err != nil {
				return err
			}
			if ok {
				o.outbox.pending--
				r.Deliveries++
			}
		}
		deadB := tx.Bucket(bucketDead)
		for _, d := range dead {
			if deadB.Get(u64(d)) == nil {
				continue
			}
			if err := deadB.Delete(u64(d)); err != nil {
				return err
			}
			o.outbox.dead--
			r.Deliveries++
		}
		if notices != nil {
			for _, e := range notices(out) {
				seq, err := tx.Bucket(bucketOutbox).NextSequence()
				if err != nil {
					return err
				}
				e.ID = seq
				if err := putPending(tx, e); err != nil {
					return err
				}
				o.outbox.pending++
			}
		}
		return nil
	}
	if err := s.submit(ctx, o); err != nil {
		return Erasure{}, err
	}
	return out, nil
}

// identityChatIDs lists the chat ids identity_chats holds for an identity.
func identityChatIDs(tx *bolt.Tx, id string) []string {
	prefix := []byte(id + "\x00")
	var ids []string
	c := tx.Bucket(bucketIdentityChats).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// deliveriesOf lists the ids of the entries of an outbox bucket whose
// event id starts with one of prefixes ("<chatId>:").
func deliveriesOf(tx *bolt.Tx, name []byte, prefixes [][]byte) ([]uint64, error) {
	if len(prefixes) == 0 {
		return nil, nil
	}
	var ids []uint64
	err := tx.Bucket(name).ForEach(func(k, v []byte) error {
		var e struct {
			EventID string `json:"eventId"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode %s entry: %w", name, err)
		}
		for _, p := range prefixes {
			if bytes.HasPrefix([]byte(e.EventID), p) {
				ids = append(ids, binary.BigEndian.Uint64(k))
				break
			}
		}
		return nil
	})
	return ids, err
}
