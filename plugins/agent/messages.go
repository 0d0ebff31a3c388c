package agent

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// Left messages: what visitors wrote in the "leave a message" form while no
// agent could chat.
//
//	AgentService.listMessages  {}                → {open:[LeftMessage], answered:[LeftMessage]}
//	AgentService.answerMessage {id, message}     → the LeftMessage with its answer
//
// open lists the unanswered ones, oldest first (up to 200); answered the
// most recently answered (up to 50). Every human agent's stream carries
// AgentService.messageLeft {message} when one is left and
// AgentService.messageAnswered {message} when an agent answered one.

// Events of left messages.
const (
	EventMessageLeft     = "messageLeft"
	EventMessageAnswered = "messageAnswered"
)

const (
	openListed     = 200
	answeredListed = 50
)

func (s *Service) listMessages(ctx context.Context, call *bus.Call) (any, error) {
	open, err := s.engine.LeftMessages(ctx, false, openListed)
	if err != nil {
		return nil, err
	}
	answered, err := s.engine.LeftMessages(ctx, true, answeredListed)
	if err != nil {
		return nil, err
	}
	return map[string]any{"open": open, "answered": answered}, nil
}

func (s *Service) answerMessage(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		ID      string  `json:"id"`
		Message *string `json:"message"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.ID == "" || len(o.ID) > 64 {
		return nil, ErrNoMessageID
	}
	if o.Message == nil || strings.TrimSpace(*o.Message) == "" {
		return nil, ErrNoMessage
	}
	if max := s.engine.Config().Limits.MessageChars; utf8.RuneCountInString(*o.Message) > max {
		return nil, ErrMessageTooLong
	}
	a, ok := agentConfig(s.engine.Config(), call.Caller.ID)
	if !ok {
		return nil, ErrNotAgent
	}
	m, err := s.engine.AnswerMessage(ctx, o.ID, a, *o.Message)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return nil, ErrMessageNotFound
	case errors.Is(err, engine.ErrAnswered):
		return nil, ErrAlreadyAnswered
	case err != nil:
		return nil, err
	}
	return m, nil
}

func agentConfig(c *config.Config, id string) (config.Agent, bool) {
	for _, a := range c.Agents {
		if a.ID == id {
			return a, true
		}
	}
	return config.Agent{}, false
}

// observeMessages tells every human agent of a left message or its answer,
// on its stream.
func (s *Service) observeMessages(event string, m model.LeftMessage) {
	name := EventMessageLeft
	if event == engine.MessageAnswered {
		name = EventMessageAnswered
	}
	data := mustJSON(map[string]any{"message": m})
	for _, a := range s.engine.Config().Agents {
		if a.Kind != config.KindHuman {
			continue
		}
		s.stream(a.ID).publish(s.bus, bus.Event{Name: Name + "." + name, Data: data})
	}
}
