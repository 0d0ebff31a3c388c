package webchat

import (
	"context"
	"errors"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Media requests (engine/media.go): an agent asks the visitor for a
// file with AgentService.requestFile; the visitor answers with
// answerMediaRequest, and its next upload settles the request.

// getMediaRequests resolves with the media requests of the visitor's chat,
// ended or not: {"mediaRequests":[{id, types, state, requester, time,
// updated}]}, oldest first.
func (s *Service) getMediaRequests(ctx context.Context, call *bus.Call) (any, error) {
	if call.Caller.Kind != bus.KindVisitor {
		return nil, ErrNoActiveSession
	}
	list, err := s.engine.ChatMediaRequests(ctx, call.Caller.ID)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []engine.MediaRequest{}
	}
	return contract.MediaRequests{MediaRequests: list}, nil
}

// answerMediaRequest {id, state} is the visitor's answer to an open media
// request: ACCEPTED, DECLINED or ERRORED. The same state again changes
// nothing. It resolves with the request as it now stands.
func (s *Service) answerMediaRequest(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.AnswerMediaRequestOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	switch o.State {
	case engine.MediaAccepted, engine.MediaDeclined, engine.MediaErrored:
	default:
		return nil, ErrMediaState
	}
	c, err := s.liveSession(ctx, call, ErrNoActiveSession)
	if err != nil {
		return nil, err
	}
	list, err := s.engine.ChatMediaRequests(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range list {
		if m.ID != o.ID {
			continue
		}
		switch {
		case m.State == o.State:
			return m, nil
		case !m.State.Open():
			return nil, ErrMediaRequestClosed
		}
		ev, err := s.engine.Append(ctx, c.ID, "", engine.MediaStateEvent(s.visitorParty(c), m.ID, o.State, s.engine.Now().UnixMilli()))
		if err != nil {
			return nil, mediaRejection(err)
		}
		m.State, m.Updated = o.State, ev.Time
		return m, nil
	}
	return nil, ErrNoMediaRequest
}

// settleMediaRequest marks the newest open media request of chat c that a
// file of this type and name answers as state (SUCCESS after an upload,
// ERRORED after a refused one). Failing to is not the upload's failure.
func (s *Service) settleMediaRequest(ctx context.Context, c model.Chat, typ, name string, state engine.MediaState) {
	list, err := s.engine.ChatMediaRequests(ctx, c.ID)
	if err != nil {
		return
	}
	for i := len(list) - 1; i >= 0; i-- {
		m := list[i]
		if !m.State.Open() || (state == engine.MediaSuccess && !engine.MatchesMediaTypes(m.Types, typ, name)) {
			continue
		}
		_, _ = s.engine.Append(ctx, c.ID, "", engine.MediaStateEvent(s.visitorParty(c), m.ID, state, s.engine.Now().UnixMilli()))
		return
	}
}

func mediaRejection(err error) error {
	switch {
	case errors.Is(err, engine.ErrEnded), errors.Is(err, engine.ErrNotFound):
		return ErrNoActiveSession
	case errors.Is(err, engine.ErrLocked):
		return ErrLocked
	}
	return err
}
