package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/model"
)

// What happens to left messages: the webhook event names, also given to
// message observers.
const (
	MessageLeft     = "message.left"
	MessageAnswered = "message.answered"
)

// MaxOpenMessages is how many unanswered messages one identity may have
// left: a visitor who keeps writing waits for an answer first.
const MaxOpenMessages = 20

// A MessageObserver hears of a left message (MessageLeft) or its answer
// (MessageAnswered) once it is stored. It must not block.
type MessageObserver func(event string, m model.LeftMessage)

// ObserveMessages adds a message observer. Call before serving.
func (e *Engine) ObserveMessages(o MessageObserver) { e.msgObservers = append(e.msgObservers, o) }

func (e *Engine) messageEvent(event string, m model.LeftMessage) {
	for _, o := range e.msgObservers {
		o(event, m)
	}
}

func (e *Engine) messageOutbox(event string, m model.LeftMessage) []model.OutboxEntry {
	if e.msgOutbox == nil {
		return nil
	}
	return e.msgOutbox(event, m)
}

// LeaveRequest is a visitor's "leave a message" form. Its fields are
// checked and bounded by the caller.
type LeaveRequest struct {
	Deployment string
	Name       string
	Email      string
	Message    string
	Context    json.RawMessage
	// Identity is the visitor's known identity; nil makes a new anonymous one.
	Identity *model.Identity
}

// LeaveMessage stores a left message and announces it (webhooks, message
// observers).
func (e *Engine) LeaveMessage(ctx context.Context, r LeaveRequest) (model.LeftMessage, error) {
	if _, ok := e.Config().Deployment(r.Deployment); !ok {
		return model.LeftMessage{}, ErrNoDeployment
	}
	now := e.now().UnixMilli()
	var newIdn *model.Identity
	idn := r.Identity
	if idn == nil {
		newIdn = &model.Identity{ID: newID(), Profile: model.Profile{Nickname: r.Name, Email: r.Email}, CreatedAt: now}
		idn = newIdn
	} else {
		open := 0
		ms, err := e.log.LeftMessagesOf(ctx, idn.ID, MaxOpenMessages*4)
		if err != nil {
			return model.LeftMessage{}, err
		}
		for _, m := range ms {
			if m.Answer == nil {
				open++
			}
		}
		if open >= MaxOpenMessages {
			return model.LeftMessage{}, ErrTooManyMessages
		}
	}
	m := model.LeftMessage{ID: newID(), Deployment: r.Deployment, IdentityID: idn.ID, Name: r.Name, Email: r.Email,
		Message: r.Message, Context: r.Context, CreatedAt: now}
	err := e.log.LeaveMessage(ctx, m, newIdn, e.messageOutbox(MessageLeft, m))
	if errors.Is(err, model.ErrNotFound) && newIdn == nil {
		// The identity was erased since it was read: the visitor is a new
		// one, as if the erasure had come first.
		newIdn = &model.Identity{ID: newID(), Profile: model.Profile{Nickname: r.Name, Email: r.Email}, CreatedAt: now}
		m.IdentityID = newIdn.ID
		err = e.log.LeaveMessage(ctx, m, newIdn, e.messageOutbox(MessageLeft, m))
	}
	if err != nil {
		return model.LeftMessage{}, fmt.Errorf("chat: leave message: %w", err)
	}
	e.messageEvent(MessageLeft, m)
	return m, nil
}

// LeftMessagesOf lists the messages an identity left, oldest first, with
// their answers.
func (e *Engine) LeftMessagesOf(ctx context.Context, identityID string, limit int) ([]model.LeftMessage, error) {
	return e.log.LeftMessagesOf(ctx, identityID, limit)
}

// LeftMessages lists up to limit unanswered messages, oldest first, or
// answered ones, the most recently answered first.
func (e *Engine) LeftMessages(ctx context.Context, answered bool, limit int) ([]model.LeftMessage, error) {
	return e.log.LeftMessages(ctx, answered, limit)
}

// AnswerMessage records agent's answer to left message id and announces
// it. ErrNotFound: no such message; ErrAnswered: it has its answer.
func (e *Engine) AnswerMessage(ctx context.Context, id string, agent config.Agent, text string) (model.LeftMessage, error) {
	a := model.Answer{Text: text, AgentID: agent.ID, AgentName: agent.Name, AnsweredAt: e.now().UnixMilli()}
	m, err := e.log.AnswerMessage(ctx, id, a, func(m model.LeftMessage) []model.OutboxEntry {
		return e.messageOutbox(MessageAnswered, m)
	})
	switch {
	case errors.Is(err, model.ErrNotFound):
		return m, ErrNotFound
	case errors.Is(err, model.ErrAnswered):
		return m, ErrAnswered
	case err != nil:
		return m, fmt.Errorf("chat: answer message %s: %w", id, err)
	}
	e.messageEvent(MessageAnswered, m)
	return m, nil
}
