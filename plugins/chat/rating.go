package chat

import (
	"context"
	"encoding/json"

	"github.com/cxgate/cxgate/store"
)

// Rating bounds: a rating is a whole number of this scale, the comment at
// most this many characters.
const (
	RatingMin          = 1
	RatingMax          = 5
	RatingCommentChars = 1000
)

// Rate records the visitor's rating of an ended chat: once, within the
// deployment's restore window (while its token still works). The rating
// goes on the chat record, so a second is refused inside the same write,
// and into the log as an EventChatRated, so agents, webhooks and metrics
// hear of it the way they hear of everything else. The caller checks the
// rating's range and the comment's length.
func (e *Engine) Rate(ctx context.Context, chatID string, from store.Party, rating int, comment string) (store.Rating, error) {
	now := e.now().UnixMilli()
	var out store.Rating
	_, _, err := e.Mutate(ctx, chatID, "", func(c *store.Chat) ([]store.Event, error) {
		switch {
		case c.State != store.StateEnded:
			return nil, ErrNotEnded
		case c.Rating != nil:
			return nil, ErrAlreadyRated
		case e.TokenExpired(c):
			return nil, ErrRatingClosed
		}
		out = store.Rating{Rating: rating, Comment: comment, Time: now, Seq: c.LastSeq + 1}
		c.Rating = &out
		data, err := json.Marshal(map[string]any{"rating": rating, "comment": comment})
		if err != nil {
			return nil, err
		}
		return []store.Event{{Type: store.EventChatRated, From: from, Time: now, Data: data}}, nil
	})
	return out, err
}

// RatingOf reads the rating stored with event ev, an EventChatRated.
func RatingOf(ev store.Event) (store.Rating, bool) {
	if ev.Type != store.EventChatRated {
		return store.Rating{}, false
	}
	var r store.Rating
	if json.Unmarshal(ev.Data, &r) != nil {
		return store.Rating{}, false
	}
	r.Time, r.Seq = ev.Time, ev.Seq
	return r, true
}
