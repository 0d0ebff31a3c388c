package webchat

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// rateChat takes the visitor's rating of its ended chat: {rating: 1–5,
// comment}. It is allowed once, with the ended chat's token while it still
// works (the deployment's restoreTimeout after the end). The visitor gets no
// event of it: agents do (AgentService.chatRated), and so do webhooks
// (chat.rated) and metrics.
func (s *Service) rateChat(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.RateChatOptions
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
	return contract.RateChatResult{ChatID: c.ID, Rating: r.Rating, Comment: r.Comment, Timestamp: r.Time}, nil
}
