package purecloud

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// The shapes of Guest Chat API v2 (docs/wire.md, "Genesys Cloud guest chat
// v2").

type ref struct {
	ID string `json:"id"`
}

// WebChatMessage is a message of the REST answers and of the event stream.
type WebChatMessage struct {
	ID           string `json:"id"`
	Conversation ref    `json:"conversation"`
	Sender       ref    `json:"sender"`
	Body         string `json:"body"`
	BodyType     string `json:"bodyType"`
	Timestamp    string `json:"timestamp"`
	SelfURI      string `json:"selfUri,omitempty"`
}

// WebChatMember is WebChatMemberInfo.
type WebChatMember struct {
	ID             string         `json:"id"`
	DisplayName    string         `json:"displayName,omitempty"`
	AvatarImageURL string         `json:"avatarImageUrl,omitempty"`
	Role           string         `json:"role"`
	JoinDate       string         `json:"joinDate,omitempty"`
	LeaveDate      string         `json:"leaveDate,omitempty"`
	CustomFields   map[string]any `json:"customFields,omitempty"`
	State          string         `json:"state"`
}

// MediaRequest is WebChatGuestMediaRequest: an agent's request for a file.
type MediaRequest struct {
	ID      string   `json:"id"`
	Name    string   `json:"name,omitempty"`
	Types   []string `json:"types"`
	State   string   `json:"state"`
	SelfURI string   `json:"selfUri"`
}

// Member states and roles.
const (
	StateConnected    = "CONNECTED"
	StateDisconnected = "DISCONNECTED"
	RoleCustomer      = "CUSTOMER"
	RoleAgent         = "AGENT"
	RoleWorkflow      = "WORKFLOW"
	RoleACD           = "ACD"
)

// Body types.
const (
	BodyStandard    = "standard"
	BodyNotice      = "notice"
	BodyMemberJoin  = "member-join"
	BodyMemberLeave = "member-leave"
	BodyMediaReq    = "media-request"
)

// The WebChatService events this wire reads.
const (
	eventMessageReceived    = contract.Service + ".messageReceived"
	eventEnded              = contract.Service + ".ended"
	eventAgentTypingStarted = contract.Service + ".agentTypingStarted"
)

// bodyType maps a transcript entry's type; "" for entries the guest API has
// no message for.
func bodyType(typ string) string {
	switch typ {
	case "Message":
		return BodyStandard
	case "Notice", "CustomNotice", "FileUploaded":
		return BodyNotice
	case "ParticipantJoined":
		return BodyMemberJoin
	case "ParticipantLeft":
		return BodyMemberLeave
	}
	return ""
}

func roleOf(partyType string) string {
	switch partyType {
	case "Client":
		return RoleCustomer
	case "Agent", "Supervisor":
		return RoleAgent
	case "Bot":
		return RoleWorkflow
	}
	return RoleACD
}

// isoTime formats unix milliseconds as ISO-8601 UTC.
func isoTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func messageID(seq uint64) string { return strconv.FormatUint(seq, 10) }

// toWire maps a transcript entry to a WebChatMessage; false for entries
// without one.
func toWire(chatID string, m contract.Message) (WebChatMessage, bool) {
	bt := bodyType(m.Type)
	if bt == "" || m.Index == 0 {
		return WebChatMessage{}, false
	}
	if bt == BodyNotice && isMediaRequest(m.Data) {
		bt = BodyMediaReq
	}
	return WebChatMessage{ID: messageID(m.Index), Conversation: ref{chatID}, Sender: ref{m.From.ParticipantID},
		Body: m.Text, BodyType: bt, Timestamp: isoTime(m.Timestamp)}, true
}

// isMediaRequest reports whether a notice's data is a media request itself
// (not one of its changes of state).
func isMediaRequest(data json.RawMessage) bool {
	if len(data) == 0 {
		return false
	}
	var d struct {
		MediaRequest *struct {
			ID string `json:"id"`
		} `json:"mediaRequest"`
	}
	return json.Unmarshal(data, &d) == nil && d.MediaRequest != nil && d.MediaRequest.ID == ""
}

// customerLeave is the guest's own member-leave when the agent or the
// system ended the chat: the chat's end, at its seq.
func customerLeave(customer string, seq uint64, ms int64) contract.Message {
	m := contract.Message{Index: seq, Type: "ParticipantLeft", Timestamp: ms}
	m.From.ParticipantID, m.From.Type = customer, "Client"
	return m
}

// endedBy reads a WebChatService.ended event: who ended the chat, and when.
func endedBy(data []byte) (by string, ms int64) {
	var d struct {
		By        string `json:"by"`
		Timestamp int64  `json:"timestamp"`
	}
	_ = json.Unmarshal(data, &d)
	if d.Timestamp == 0 {
		d.Timestamp = time.Now().UnixMilli()
	}
	return d.By, d.Timestamp
}

// members replays a transcript's joins and leaves into the chat's members,
// in order of first appearance. customer is the visitor's own member id;
// ended marks it disconnected even without a leave of its own (a chat the
// agent ended).
func members(msgs []contract.Message, customer string, ended bool, endedAt int64) []WebChatMember {
	var out []WebChatMember
	at := map[string]int{}
	for _, m := range msgs {
		bt := bodyType(m.Type)
		id := m.From.ParticipantID
		if (bt != BodyMemberJoin && bt != BodyMemberLeave) || id == "" {
			continue
		}
		i, ok := at[id]
		if !ok {
			i = len(out)
			at[id] = i
			out = append(out, WebChatMember{ID: id, DisplayName: m.From.Name, Role: roleOf(m.From.Type)})
		}
		if bt == BodyMemberJoin {
			out[i].State, out[i].JoinDate, out[i].LeaveDate = StateConnected, isoTime(m.Timestamp), ""
		} else {
			out[i].State, out[i].LeaveDate = StateDisconnected, isoTime(m.Timestamp)
		}
	}
	if i, ok := at[customer]; ok && ended && out[i].State == StateConnected {
		out[i].State = StateDisconnected
		if endedAt > 0 {
			out[i].LeaveDate = isoTime(endedAt)
		}
	}
	return out
}

// Event stream frames.

// Topic names of the event stream.
func messagesTopic(chatID string) string { return "v2.conversations.chats." + chatID + ".messages" }
func membersTopic(chatID string) string  { return "v2.conversations.chats." + chatID + ".members" }

// heartbeat is the frame the stream sends every Config.Heartbeat.
var heartbeat = []byte(`{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}`)

// frame is a conversation frame; real Genesys frames carry "version":"2".
type frame struct {
	TopicName string   `json:"topicName"`
	Version   string   `json:"version"`
	EventBody any      `json:"eventBody"`
	Metadata  metadata `json:"metadata"`
}

type metadata struct {
	CorrelationID string `json:"CorrelationId"`
	Type          string `json:"type"`
}

type typingBody struct {
	ID           string `json:"id"`
	Conversation ref    `json:"conversation"`
	Sender       ref    `json:"sender"`
	Timestamp    string `json:"timestamp"`
}

type memberChange struct {
	Member       memberState `json:"member"`
	Conversation ref         `json:"conversation"`
	Timestamp    string      `json:"timestamp"`
}

type memberState struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func encodeFrame(topic, typ string, body any) []byte {
	b, err := json.Marshal(frame{TopicName: topic, Version: "2", EventBody: body, Metadata: metadata{CorrelationID: newID(), Type: typ}})
	if err != nil {
		panic("purecloud: marshal frame: " + err.Error()) // only our own plain structs
	}
	return b
}

func messageFrame(m WebChatMessage) []byte {
	return encodeFrame(messagesTopic(m.Conversation.ID), "message", m)
}

func memberFrame(chatID, member, state string, ms int64) []byte {
	return encodeFrame(membersTopic(chatID), "member-change",
		memberChange{Member: memberState{ID: member, State: state}, Conversation: ref{chatID}, Timestamp: isoTime(ms)})
}

// framesOf maps one unit of WebChatService events of a chat to the event
// stream's frames. customer is the visitor's member id.
func framesOf(ev bus.Event, chatID, customer string) [][]byte {
	var out [][]byte
	for _, e := range append([]bus.Event{ev}, ev.With...) {
		switch e.Name {
		case eventMessageReceived:
			var d contract.MessageReceived
			if json.Unmarshal(e.Data, &d) != nil {
				continue
			}
			for _, m := range d.Messages {
				w, ok := toWire(chatID, m)
				if !ok {
					continue
				}
				out = append(out, messageFrame(w))
				switch w.BodyType {
				case BodyMemberJoin:
					out = append(out, memberFrame(chatID, w.Sender.ID, StateConnected, m.Timestamp))
				case BodyMemberLeave:
					out = append(out, memberFrame(chatID, w.Sender.ID, StateDisconnected, m.Timestamp))
				}
			}
		case eventAgentTypingStarted:
			var m contract.Message
			if json.Unmarshal(e.Data, &m) != nil {
				continue
			}
			out = append(out, encodeFrame(messagesTopic(chatID), "typing-indicator", typingBody{ID: newID(),
				Conversation: ref{chatID}, Sender: ref{m.From.ParticipantID}, Timestamp: isoTime(m.Timestamp)}))
		case eventEnded:
			// A chat the visitor ended logged the visitor's own leave; any
			// other end says so here, as GET .../messages does: the widget
			// ends the chat on a member-leave of its own member.
			by, ms := endedBy(e.Data)
			if by != "visitor" && e.Seq > 0 {
				w, _ := toWire(chatID, customerLeave(customer, e.Seq, ms))
				out = append(out, messageFrame(w))
				out = append(out, memberFrame(chatID, customer, StateDisconnected, ms))
			}
		}
	}
	return out
}
