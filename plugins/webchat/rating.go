package webchat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
)

// Rejections of rateChat. Codes are append-only.
var (
	ErrNoChatToRate = bus.Reject(http.StatusConflict, "no_active_session", "There is no chat session to rate.")
	ErrNotEnded     = bus.Reject(http.StatusConflict, "chat_not_ended", "A chat can be rated once it has ended.")
	ErrAlreadyRated = bus.Reject(http.StatusConflict, "already_rated", "This chat has already been rated.")
	ErrRatingClosed = bus.Reject(http.StatusConflict, "rating_closed", "The time to rate this chat has passed.")
	ErrBadRating    = bus.Reject(http.StatusBadRequest, "invalid_rating",
		fmt.Sprintf("rating must be a whole number from %d to %d.", engine.RatingMin, engine.RatingMax))
	ErrCommentTooLong = bus.Reject(http.StatusRequestEntityTooLarge, "comment_too_long",
		fmt.Sprintf("comment is limited to %d characters.", engine.RatingCommentChars))
)

// rateChat takes the visitor's rating of its ended chat: {rating: 1–5,
// comment}. It is allowed once, with the ended chat's token while it still
// works (the deployment's restoreTimeout after the end). The visitor gets no
// event of it: agents do (AgentService.chatRated), and so do webhooks
// (chat.rated) and metrics.
func (s *Service) rateChat(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		Rating  *float64 `json:"rating"`
		Comment string   `json:"comment"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if call.Caller.Kind != bus.KindVisitor {
		return nil, ErrNoChatToRate
	}
	if o.Rating == nil || *o.Rating != float64(int(*o.Rating)) || *o.Rating < engine.RatingMin || *o.Rating > engine.RatingMax {
		return nil, ErrBadRating
	}
	if !utf8.ValidString(o.Comment) || utf8.RuneCountInString(o.Comment) > engine.RatingCommentChars {
		return nil, ErrCommentTooLong
	}
	c, err := s.engine.Chat(ctx, call.Caller.ID)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, ErrNoChatToRate
	}
	if err != nil {
		return nil, err
	}
	r, err := s.engine.Rate(ctx, c.ID, s.visitorParty(c), int(*o.Rating), o.Comment)
	switch {
	case errors.Is(err, engine.ErrNotEnded):
		return nil, ErrNotEnded
	case errors.Is(err, engine.ErrAlreadyRated):
		return nil, ErrAlreadyRated
	case errors.Is(err, engine.ErrRatingClosed):
		return nil, ErrRatingClosed
	case errors.Is(err, engine.ErrNotFound):
		return nil, ErrNoChatToRate
	case err != nil:
		return nil, err
	}
	return map[string]any{"chatId": c.ID, "rating": r.Rating, "comment": r.Comment, "timestamp": r.Time}, nil
}
