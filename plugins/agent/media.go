package agent

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// requestFile {chatId, types} asks the chat's visitor for a file of one of
// types (any file when empty): a media request in state PENDING, which the
// visitor sees as a notice (guest chat: a media-request message) and
// answers by accepting, declining or uploading. It resolves with
// {"id","seq","types","state"}.
func (s *Service) requestFile(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		ChatID string   `json:"chatId"`
		Types  []string `json:"types"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.ChatID == "" {
		return nil, ErrNoChatID
	}
	if len(o.Types) > 16 {
		return nil, ErrMediaTypes
	}
	types := make([]string, 0, len(o.Types))
	for _, t := range o.Types {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 100 || !utf8.ValidString(t) {
			return nil, ErrMediaTypes
		}
		types = append(types, t)
	}
	_, p, err := s.participant(ctx, call, o.ChatID)
	if err != nil {
		return nil, err
	}
	ev, err := s.engine.Append(ctx, o.ChatID, "", engine.MediaRequestEvent(engine.PartyOf(p), types, s.engine.Now().UnixMilli()))
	if err != nil {
		return nil, rejectionFor(err)
	}
	id := engine.MediaRequests([]model.Event{ev})[0].ID
	return map[string]any{"id": id, "seq": ev.Seq, "types": types, "state": engine.MediaPending}, nil
}
