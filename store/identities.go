package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/cxgate/cxgate/model"
	bolt "go.etcd.io/bbolt"
)

// PutIdentity creates or replaces an identity.
func (s *Store) PutIdentity(ctx context.Context, idn model.Identity) error {
	if idn.ID == "" {
		return fmt.Errorf("store: identity without id")
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketIdentities), idn.ID, idn)
	}
	return s.submit(ctx, o)
}

// IssueToken stores a token hash standing for t; the token itself is never
// stored. It is how a visitor gets a token for another of its chats or on
// another device.
func (s *Store) IssueToken(ctx context.Context, hash []byte, t model.Token) error {
	if len(hash) == 0 || t.ChatID == "" {
		return fmt.Errorf("store: token without hash or chat")
	}
	o := &op{}
	o.apply = func(tx *bolt.Tx) error {
		if tx.Bucket(bucketChats).Get([]byte(t.ChatID)) == nil {
			return skip{fmt.Errorf("%w: chat %s", model.ErrNotFound, t.ChatID)}
		}
		if err := tx.Bucket(bucketChatRefs).Put(tokenRef(t.ChatID, t.CreatedAt, hash), nil); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketTokens), string(hash), t)
	}
	return s.submit(ctx, o)
}

// ChatsOfIdentity reads every chat of an identity, oldest first.
func (s *Store) ChatsOfIdentity(ctx context.Context, identityID string) ([]model.Chat, error) {
	var out []model.Chat
	prefix := []byte(identityID + "\x00")
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIdentityChats).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ch, err := getChat(tx, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, ch)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: chats of identity %s: %w", identityID, err)
	}
	slices.SortStableFunc(out, func(a, b model.Chat) int { return cmp.Compare(a.CreatedAt, b.CreatedAt) })
	return out, nil
}
