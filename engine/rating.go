package engine

import (
	"context"
	"encoding/json"

	"github.com/cxgate/cxgate/model"
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
func (e *Engine) Rate(ctx context.Context, chatID string, from model.Party, rating int, comment string) (model.Rating, error) {
	now := e.now().UnixMilli()
	var out model.Rating
	_, _, err := e.Mutate(ctx, chatID, "", func(c *model.Chat) ([]model.Event, error) {
		switch {
		case c.State != model.StateEnded:
			return nil, ErrNotEnded
		case c.Rating != nil:
			return nil, ErrAlreadyRated
		case e.TokenExpired(c):
			return nil, ErrRatingClosed
		}
		out = model.Rating{Rating: rating, Comment: comment, Time: now, Seq: c.LastSeq + 1}
		c.Rating = &out
		data, err := json.Marshal(map[string]any{"rating": rating, "comment": comment})
		if err != nil {
			return nil, err
		}
		return []model.Event{{Type: model.EventChatRated, From: from, Time: now, Data: data}}, nil
	})
	return out, err
}

// RatingOf reads the rating stored with event ev, an EventChatRated.
func RatingOf(ev model.Event) (model.Rating, bool) {
	if ev.Type != model.EventChatRated {
		return model.Rating{}, false
	}
	var r model.Rating
	if json.Unmarshal(ev.Data, &r) != nil {
		return model.Rating{}, false
	}
	r.Time, r.Seq = ev.Time, ev.Seq
	return r, true
}
