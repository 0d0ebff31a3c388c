package store

import (
	"encoding/json"
	"errors"
)

// Errors returned by the store; test them with errors.Is.
var (
	// ErrClosed is returned by writes submitted after Close began and by
	// reads after Close.
	ErrClosed = errors.New("store: closed")
	// ErrNotFound is returned for an unknown chat, identity or token.
	ErrNotFound = errors.New("store: not found")
	// ErrExists is returned by CreateChat for a chat id already taken.
	ErrExists = errors.New("store: already exists")
)

// Chat states.
const (
	StateQueued = "queued"
	StateActive = "active"
	StateEnded  = "ended"
	// StateIdle is an asynchronous conversation that is open but needs
	// nobody: its intervention was resolved. The visitor's next message
	// queues it again.
	StateIdle = "idle"
)

// Profile is what a visitor tells about themselves.
type Profile struct {
	Nickname  string `json:"nickname,omitempty"`
	Firstname string `json:"firstname,omitempty"`
	Lastname  string `json:"lastname,omitempty"`
	Email     string `json:"email,omitempty"`
}

// Identity is a visitor known across chats.
type Identity struct {
	ID        string          `json:"id"`
	UUID      string          `json:"uuid,omitempty"` // the company-managed id, when there is one
	Signed    bool            `json:"signed,omitempty"`
	Profile   Profile         `json:"profile"`
	Avatar    string          `json:"avatar,omitempty"`
	Extra     json.RawMessage `json:"extra,omitempty"`
	CreatedAt int64           `json:"createdAt"`
	UpdatedAt int64           `json:"updatedAt,omitempty"`
}

// Participant is an agent, bot or supervisor that took part in a chat.
type Participant struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Kind       string `json:"kind"` // human | bot
	Supervisor bool   `json:"supervisor,omitempty"`
	Silent     bool   `json:"silent,omitempty"` // a supervisor the visitor does not see
	JoinedAt   int64  `json:"joinedAt"`
	LeftAt     int64  `json:"leftAt,omitempty"`
}

// Connected reports whether the participant is still in the chat.
func (p Participant) Connected() bool { return p.LeftAt == 0 }

// Chat is one conversation of one identity on one deployment.
type Chat struct {
	ID           string          `json:"id"`
	Deployment   string          `json:"deployment"`
	Mode         string          `json:"mode"` // live | async
	State        string          `json:"state"`
	Queue        string          `json:"queue,omitempty"`
	Priority     int             `json:"priority,omitempty"`
	Skills       []string        `json:"skills,omitempty"`   // asked for by the visitor's page, beside the queue's
	Language     string          `json:"language,omitempty"` // asked for by the visitor's page
	IdentityID   string          `json:"identityId"`
	Visitor      Profile         `json:"visitor"`
	Subject      string          `json:"subject,omitempty"`
	UserData     json.RawMessage `json:"userData,omitempty"`
	Participants []Participant   `json:"participants,omitempty"`
	CreatedAt    int64           `json:"createdAt"` // unix ms
	EndedAt      int64           `json:"endedAt,omitempty"`
	EndedBy      string          `json:"endedBy,omitempty"`
	LastActivity int64           `json:"lastActivity"`
	LastSeq      uint64          `json:"lastSeq"`
	Files        uint32          `json:"files,omitempty"` // files stored with the chat (AddFile): the upload count
	// Wire is the protocol the visitor started the chat on: "native" (also
	// the Widgets bus; empty in chats stored before the field existed),
	// "gms" or "purecloud" (Genesys Cloud guest chat). See bus.Wire*.
	Wire string `json:"wire,omitempty"`

	// Asynchronous conversations only.
	Locked            bool   `json:"locked,omitempty"`
	Thread            uint32 `json:"thread,omitempty"` // number of the current (or last) thread
	ThreadOpen        bool   `json:"threadOpen,omitempty"`
	VisitorRead       uint64 `json:"visitorRead,omitempty"` // the visitor has read every event up to this seq
	IdentityInitiated bool   `json:"identityInitiated,omitempty"`

	// Rating is the visitor's rating of the chat once it ended (rateChat);
	// the log holds it too, as an EventChatRated.
	Rating *Rating `json:"rating,omitempty"`
}

// Rating is a visitor's rating of a chat: 1 (poor) to 5 (excellent) and an
// optional comment.
type Rating struct {
	Rating  int    `json:"rating"`
	Comment string `json:"comment,omitempty"`
	Time    int64  `json:"time"` // unix ms
	Seq     uint64 `json:"seq"`  // the EventChatRated that recorded it
}

// Party is who an event is from.
type Party struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	Type string `json:"type"` // Client | Agent | Bot | Supervisor | System
}

// Event types stored in a chat's log.
const (
	EventMessage           = "Message"
	EventNotice            = "Notice"
	EventCustomNotice      = "CustomNotice"
	EventParticipantJoined = "ParticipantJoined"
	EventParticipantLeft   = "ParticipantLeft"
	EventFileUploaded      = "FileUploaded"
	EventUserDataUpdated   = "UserDataUpdated"
	EventChatEnded         = "ChatEnded"
	EventThreadOpened      = "ThreadOpened"
	EventThreadClosed      = "ThreadClosed"
	EventChatLocked        = "ChatLocked"
	EventChatUnlocked      = "ChatUnlocked"
	EventResolved          = "InterventionResolved"
	EventIdentityUpdated   = "IdentityUpdated"
	EventTransferred       = "Transferred"
	// EventContextUpdated carries the visitor's session data (pages,
	// variables) for agents; visitors never see it.
	EventContextUpdated = "ContextUpdated"
	// EventChatRated is the visitor's rating of an ended chat (Data: a
	// Rating without seq); for agents, webhooks and metrics, never pushed
	// to the visitor.
	EventChatRated = "ChatRated"
)

// Event is one entry of a chat's log.
type Event struct {
	Seq       uint64          `json:"seq"`
	Type      string          `json:"type"`
	From      Party           `json:"from"`
	Text      string          `json:"text,omitempty"`
	Time      int64           `json:"time"` // unix ms
	RequestID string          `json:"requestId,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	// Internal events are for agents only: a silent supervisor's presence
	// and whispers, and agents' internal notes.
	Internal bool `json:"internal,omitempty"`
}

// Token is what a bearer token stands for. Only its hash is stored.
type Token struct {
	Kind       string `json:"kind"` // visitor
	ChatID     string `json:"chatId,omitempty"`
	IdentityID string `json:"identityId,omitempty"`
	CreatedAt  int64  `json:"createdAt"`
}

// Committed is what one write appended to one chat, handed to the commit
// hook in commit order.
type Committed struct {
	Chat   Chat    // the chat as committed
	Events []Event // the new events, seq order; may be empty
}
