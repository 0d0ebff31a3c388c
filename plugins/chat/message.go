package chat

import (
	"encoding/json"

	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/store"
)

// Message is a transcript entry in Genesys' shape; the WebChatService
// contract owns it, so the wires read the struct the engine fills.
type Message = contract.Message

// From is a message's author.
type From = contract.From

// ToMessage maps a stored event to a transcript entry.
func ToMessage(ev store.Event) Message {
	m := Message{
		Index: ev.Seq, Type: ev.Type, Text: ev.Text, Timestamp: ev.Time, RequestID: ev.RequestID,
		From:     From{Name: ev.From.Name, Type: ev.From.Type, ParticipantID: ev.From.ID},
		Internal: ev.Internal,
	}
	switch ev.Type {
	case "TypingStarted", "TypingStopped":
		t := ev.Type == "TypingStarted"
		m.IsTyping = &t
	case store.EventMessage:
		if len(ev.Data) > 0 {
			var d struct {
				Filter string `json:"filter"`
			}
			if json.Unmarshal(ev.Data, &d) == nil {
				m.Filter = d.Filter
			}
		}
	case store.EventFileUploaded:
		m.FileDetails = ev.Data
	case store.EventNotice:
		if ok, _ := IsMediaRequest(ev); ok {
			m.Data = ev.Data // {"mediaRequest":{...}}: clients show the request (media.go)
		}
	case store.EventChatLocked:
		m.Type, m.Text = store.EventNotice, "This conversation is locked."
	case store.EventChatUnlocked:
		m.Type, m.Text = store.EventNotice, "This conversation is unlocked."
	}
	return m
}

// Visible reports whether participants see the event in their transcript.
func Visible(ev store.Event) bool {
	switch ev.Type {
	case store.EventMessage, store.EventNotice, store.EventCustomNotice, store.EventParticipantJoined,
		store.EventParticipantLeft, store.EventFileUploaded, store.EventChatLocked, store.EventChatUnlocked:
		return true
	}
	return false
}
