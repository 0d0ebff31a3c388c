package webhooks

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// Event names. config.WebhookEvents lists the same.
const (
	EventChatStarted     = "chat.started"         // a visitor started a chat (its first event)
	EventThreadCreated   = "thread.created"       // a thread opened (async); a live chat started (it is one thread)
	EventMessageCreated  = "message.created"      // a message or file everyone in the chat sees (no whispers or notes)
	EventChatTransferred = "chat.transferred"     // an agent handed the chat to another agent or queue
	EventChatEnded       = "chat.ended"           // a chat ended (visitor, agent, idle; a resolved live chat)
	EventChatResolved    = "chat.resolved"        // an agent resolved its intervention in an async chat
	EventMessageLeft     = engine.MessageLeft     // a visitor left a message (offline form)
	EventMessageAnswered = engine.MessageAnswered // an agent answered a left message
	EventChatRated       = "chat.rated"           // the visitor rated the ended chat; data: {rating, comment}
)

// Events lists every event name, in the order of a chat's life.
func Events() []string {
	return []string{EventChatStarted, EventThreadCreated, EventMessageCreated, EventChatTransferred,
		EventChatEnded, EventChatResolved, EventMessageLeft, EventMessageAnswered, EventIdentityErased, EventChatRated}
}

// Payload is the JSON body of every webhook request.
type Payload struct {
	ID         string          `json:"id"`        // stable: "<chatId>:<seq>:<event>"
	Event      string          `json:"event"`     // one of Events
	CreatedAt  int64           `json:"createdAt"` // the stored event's time, unix ms
	Deployment string          `json:"deployment"`
	Chat       ChatInfo        `json:"chat"`
	Thread     uint32          `json:"thread,omitempty"`  // async chats: the current thread's number
	Message    *engine.Message `json:"message,omitempty"` // message.created: the transcript entry
	Data       json.RawMessage `json:"data,omitempty"`    // the stored event's data
}

// ChatInfo is the chat an event belongs to, as of that event's commit.
type ChatInfo struct {
	ID    string          `json:"id"`
	Mode  model.Mode      `json:"mode"`  // live | async
	State model.ChatState `json:"state"` // queued | active | idle | ended
	Queue string          `json:"queue,omitempty"`
}

// EventID is the stable id of event name for the stored event seq of a chat.
func EventID(chatID string, seq uint64, name string) string {
	return chatID + ":" + strconv.FormatUint(seq, 10) + ":" + name
}

// eventNames maps one stored event to the webhook events it means.
func eventNames(c *model.Chat, ev model.Event) []string {
	switch {
	case ev.Seq == 1 && ev.Type == model.EventParticipantJoined && ev.From.Type == model.PartyClient:
		if c.Mode == config.ModeAsync {
			return []string{EventChatStarted}
		}
		return []string{EventChatStarted, EventThreadCreated}
	case ev.Type == model.EventThreadOpened:
		return []string{EventThreadCreated}
	case (ev.Type == model.EventMessage || ev.Type == model.EventFileUploaded) && !ev.Internal:
		return []string{EventMessageCreated}
	case ev.Type == model.EventTransferred:
		return []string{EventChatTransferred}
	case ev.Type == model.EventChatEnded:
		return []string{EventChatEnded}
	case ev.Type == model.EventResolved:
		return []string{EventChatResolved}
	case ev.Type == model.EventChatRated:
		return []string{EventChatRated}
	}
	return nil
}

func newPayload(c *model.Chat, ev model.Event, name string) Payload {
	p := Payload{
		ID: EventID(c.ID, ev.Seq, name), Event: name, CreatedAt: ev.Time, Deployment: c.Deployment,
		Chat: ChatInfo{ID: c.ID, Mode: c.Mode, State: c.State, Queue: c.Queue},
		Data: ev.Data,
	}
	if c.Mode == config.ModeAsync {
		p.Thread = c.Thread
	}
	if name == EventMessageCreated {
		m := engine.ToMessage(ev)
		p.Message = &m
	}
	return p
}

// subscribed reports whether w wants event name.
func subscribed(w config.Webhook, name string) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, name)
}

// outbox makes the deliveries, one per (subscription, event), of the events a
// write appended to chat c (as of that commit), for the subscriptions in
// force. It does no I/O.
func (s *Service) outbox(c *model.Chat, evs []model.Event) []model.OutboxEntry {
	hooks := s.engine.Config().Webhooks
	if len(hooks) == 0 {
		return nil
	}
	now := s.now().UnixMilli()
	var out []model.OutboxEntry
	for _, ev := range evs {
		for _, name := range eventNames(c, ev) {
			var body []byte
			for _, w := range hooks {
				if !subscribed(w, name) {
					continue
				}
				if body == nil {
					body = marshalPayload(newPayload(c, ev, name))
				}
				out = append(out, model.OutboxEntry{Subscription: w.ID, Event: name, EventID: EventID(c.ID, ev.Seq, name),
					Body: body, CreatedAt: now, NextAt: now})
			}
		}
	}
	return out
}

// marshalPayload encodes p; stored data that is not valid JSON (which the
// engine never writes) is left out rather than losing the event.
func marshalPayload(p Payload) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		p.Data = nil
		if p.Message != nil {
			p.Message.Data = nil
		}
		b, _ = json.Marshal(p)
	}
	return b
}

// MessagePayload is the JSON body of message.left and message.answered: the
// left message, with its answer for message.answered, so a site can email
// the visitor.
type MessagePayload struct {
	ID          string             `json:"id"` // stable: "<messageId>:<event>"
	Event       string             `json:"event"`
	CreatedAt   int64              `json:"createdAt"` // when it was left or answered, unix ms
	Deployment  string             `json:"deployment"`
	LeftMessage *model.LeftMessage `json:"leftMessage"`
}

// MessageOutbox is the engine's Options.MessageOutbox: the deliveries of a
// left message's event, one per subscription that wants it. It does no I/O.
func (s *Service) MessageOutbox(event string, m model.LeftMessage) []model.OutboxEntry {
	hooks := s.engine.Config().Webhooks
	at := m.CreatedAt
	if event == EventMessageAnswered && m.Answer != nil {
		at = m.Answer.AnsweredAt
	}
	id := m.ID + ":" + event
	var body []byte
	var out []model.OutboxEntry
	now := s.now().UnixMilli()
	for _, w := range hooks {
		if !subscribed(w, event) {
			continue
		}
		if body == nil {
			body, _ = json.Marshal(MessagePayload{ID: id, Event: event, CreatedAt: at, Deployment: m.Deployment, LeftMessage: &m})
		}
		out = append(out, model.OutboxEntry{Subscription: w.ID, Event: event, EventID: id, Body: body, CreatedAt: now, NextAt: now})
	}
	return out
}
