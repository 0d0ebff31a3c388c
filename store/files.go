package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketFiles    = []byte("files")
	bucketFileData = []byte("file_data")
)

// File describes a file stored with a chat. Its content is kept beside it,
// in its own bucket, so that checking who may read a file never loads it.
type File struct {
	ID     string `json:"id"`
	ChatID string `json:"chatId"`
	Name   string `json:"name"`
	// Type is the media type detected from the content, with its
	// parameters ("text/plain; charset=utf-8"): what a download is served as.
	Type string `json:"type"`
	Size int64  `json:"size"`
	From Party  `json:"from"`
	Time int64  `json:"time"` // unix ms
	Seq  uint64 `json:"seq"`  // the chat's FileUploaded event that announced it
	// Internal files are for agents only, as internal events are.
	Internal bool `json:"internal,omitempty"`
	// Expired is when retention deleted the content (unix ms); the record
	// and its event stay. 0 while the content is kept.
	Expired int64 `json:"expired,omitempty"`
}

// AddFile stores a file with chat chatID and appends fn's events, in one
// transaction: Mutate with the file. fn must append one FileUploaded event
// (the file takes its seq); it sees the chat's upload count in c.Files, which
// AddFile raises by one. The file's ChatID, Size and Seq are set here; its ID
// must be new. A replayed requestID stores nothing and returns the first
// attempt's events, as Mutate does. content must not be changed afterwards.
func (s *Store) AddFile(ctx context.Context, chatID, requestID string, f File, content []byte, fn MutateFunc) (Chat, []Event, bool, error) {
	if f.ID == "" {
		return Chat{}, nil, false, errors.New("store: add file: empty file id")
	}
	return s.mutate(ctx, chatID, requestID, fn, func(tx *bolt.Tx, c *Chat, added []Event) error {
		meta := f
		meta.ChatID, meta.Size = c.ID, int64(len(content))
		for _, ev := range added {
			if ev.Type == EventFileUploaded {
				meta.Seq = ev.Seq
			}
		}
		if meta.Seq == 0 {
			return fmt.Errorf("store: add file %s: no %s event appended", f.ID, EventFileUploaded)
		}
		files := tx.Bucket(bucketFiles)
		if files.Get([]byte(f.ID)) != nil {
			return fmt.Errorf("%w: file %s", ErrExists, f.ID)
		}
		if err := putJSON(files, f.ID, meta); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFileData).Put([]byte(f.ID), content); err != nil {
			return err
		}
		c.Files++
		return nil
	})
}

// FileInfo reads a file's description, or ErrNotFound.
func (s *Store) FileInfo(ctx context.Context, id string) (f File, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		f, err = getFile(tx, id)
		return err
	})
	return f, err
}

// FileContent reads a file's description and a copy of its content, or
// ErrNotFound, or ErrExpired with the description when retention deleted
// the content.
func (s *Store) FileContent(ctx context.Context, id string) (f File, content []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if f, err = getFile(tx, id); err != nil {
			return err
		}
		if f.Expired != 0 {
			return fmt.Errorf("%w: file %s", ErrExpired, id)
		}
		content = bytes.Clone(tx.Bucket(bucketFileData).Get([]byte(id)))
		if content == nil {
			content = []byte{}
		}
		return nil
	})
	return f, content, err
}

func getFile(tx *bolt.Tx, id string) (File, error) {
	v := tx.Bucket(bucketFiles).Get([]byte(id))
	if v == nil {
		return File{}, fmt.Errorf("%w: file %s", ErrNotFound, id)
	}
	var f File
	if err := json.Unmarshal(v, &f); err != nil {
		return File{}, fmt.Errorf("store: decode file %s: %w", id, err)
	}
	return f, nil
}
