package engine

import (
	"encoding/json"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Message is a transcript entry in Genesys' shape; the WebChatService
// contract owns it, so the wires read the struct the engine fills.
type Message = contract.Message

// From is a message's author.
type From = contract.From

// ToMessage maps a stored event to a transcript entry.
func ToMessage(ev model.Event) Message {
	m := Message{
		Index: ev.Seq, Type: string(ev.Type), Text: ev.Text, Timestamp: ev.Time, RequestID: ev.RequestID,
		From:     From{Name: ev.From.Name, Type: string(ev.From.Type), ParticipantID: ev.From.ID},
		Internal: ev.Internal,
	}
	switch ev.Type {
	case model.EventTypingStarted, model.EventTypingStopped:
		t := ev.Type == model.EventTypingStarted
		m.IsTyping = &t
	case model.EventMessage:
		if len(ev.Data) > 0 {
			var d struct {
				Filter string `json:"filter"`
			}
			if json.Unmarshal(ev.Data, &d) == nil {
				m.Filter = d.Filter
			}
		}
	case model.EventFileUploaded:
		m.FileDetails = ev.Data
	case model.EventNotice:
		if ok, _ := IsMediaRequest(ev); ok {
			m.Data = ev.Data // {"mediaRequest":{...}}: clients show the request (media.go)
		}
	case model.EventChatLocked:
		m.Type, m.Text = string(model.EventNotice), "This conversation is locked."
	case model.EventChatUnlocked:
		m.Type, m.Text = string(model.EventNotice), "This conversation is unlocked."
	}
	return m
}

// Visible reports whether participants see the event in their transcript.
func Visible(ev model.Event) bool {
	switch ev.Type {
	case model.EventMessage, model.EventNotice, model.EventCustomNotice, model.EventParticipantJoined,
		model.EventParticipantLeft, model.EventFileUploaded, model.EventChatLocked, model.EventChatUnlocked:
		return true
	}
	return false
}
