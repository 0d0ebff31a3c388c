package model

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"
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

// ChatState is where a chat is in its life.
type ChatState string

// Chat states.
const (
	StateQueued ChatState = "queued"
	StateActive ChatState = "active"
	StateEnded  ChatState = "ended"
	// StateIdle is an asynchronous conversation that is open but needs
	// nobody: its intervention was resolved. The visitor's next message
	// queues it again.
	StateIdle ChatState = "idle"
)

// Mode is how a chat is held: live (a session that ends) or async (a
// conversation that lasts, in threads).
type Mode string

// Modes.
const (
	ModeLive  Mode = "live"
	ModeAsync Mode = "async"
)

// PartyType is what kind of party an event is from.
type PartyType string

// Party types, as the wires show them.
const (
	PartyClient     PartyType = "Client" // the visitor
	PartyAgent      PartyType = "Agent"
	PartyBot        PartyType = "Bot"
	PartySupervisor PartyType = "Supervisor"
	PartySystem     PartyType = "System" // the gateway itself: notices, thread boundaries
)

// System is the party of the gateway's own events.
var System = Party{Type: PartySystem, Name: "system"}

// ParticipantKind is whether a participant is a person or a bot.
type ParticipantKind string

// Participant kinds.
const (
	KindHuman ParticipantKind = "human"
	KindBot   ParticipantKind = "bot"
)

// EndedBy says who or what ended a chat.
type EndedBy string

// Why chats end.
const (
	EndedByVisitor EndedBy = "visitor"
	EndedByAgent   EndedBy = "agent"
	EndedByIdle    EndedBy = "idle"
	EndedByErased  EndedBy = "erased"
)

// AgentStatus is an agent's presence.
type AgentStatus string

// Agent statuses.
const (
	StatusOnline  AgentStatus = "online"
	StatusAway    AgentStatus = "away"
	StatusOffline AgentStatus = "offline"
)

// Wire is the protocol a visitor's chat was started on.
type Wire string

// Wires.
const (
	WireNative    Wire = "native"    // the native wire and the Widgets bus
	WireGMS       Wire = "gms"       // Genesys GMS Chat API v2
	WirePureCloud Wire = "purecloud" // Genesys Cloud guest chat
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
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Kind       ParticipantKind `json:"kind"`
	Supervisor bool            `json:"supervisor,omitempty"`
	Silent     bool            `json:"silent,omitempty"` // a supervisor the visitor does not see
	JoinedAt   int64           `json:"joinedAt"`
	LeftAt     int64           `json:"leftAt,omitempty"`
}

// Connected reports whether the participant is still in the chat.
func (p Participant) Connected() bool { return p.LeftAt == 0 }

// Chat is one conversation of one identity on one deployment.
type Chat struct {
	ID           string          `json:"id"`
	Deployment   string          `json:"deployment"`
	Mode         Mode            `json:"mode"`
	State        ChatState       `json:"state"`
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
	EndedBy      EndedBy         `json:"endedBy,omitempty"`
	LastActivity int64           `json:"lastActivity"`
	LastSeq      uint64          `json:"lastSeq"`
	Files        uint32          `json:"files,omitempty"` // files stored with the chat (AddFile): the upload count
	// Wire is the protocol the visitor started the chat on: "native" (also
	// the Widgets bus; empty in chats stored before the field existed),
	// "gms" or "purecloud" (Genesys Cloud guest chat). See bus.Wire*.
	Wire Wire `json:"wire,omitempty"`

	// Asynchronous conversations only.
	Locked            bool   `json:"locked,omitempty"`
	Thread            uint32 `json:"thread,omitempty"` // number of the current (or last) thread
	ThreadOpen        bool   `json:"threadOpen,omitempty"`
	VisitorRead       uint64 `json:"visitorRead,omitempty"` // the visitor has read every event up to this seq
	IdentityInitiated bool   `json:"identityInitiated,omitempty"`

	// HoldUntil keeps a new chat out of routing until then (unix ms) or
	// until its visitor's event stream attaches (Genesys Cloud guest
	// chat), whichever comes first: in the record, so that every node of a
	// cluster holds it, the leader that routes included.
	HoldUntil int64 `json:"holdUntil,omitempty"`

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
	ID   string    `json:"id,omitempty"`
	Name string    `json:"name,omitempty"`
	Type PartyType `json:"type"`
}

// EventType is what an event of a chat's log is.
type EventType string

// Event types stored in a chat's log.
const (
	EventMessage           EventType = "Message"
	EventNotice            EventType = "Notice"
	EventCustomNotice      EventType = "CustomNotice"
	EventParticipantJoined EventType = "ParticipantJoined"
	EventParticipantLeft   EventType = "ParticipantLeft"
	EventFileUploaded      EventType = "FileUploaded"
	EventUserDataUpdated   EventType = "UserDataUpdated"
	EventChatEnded         EventType = "ChatEnded"
	EventThreadOpened      EventType = "ThreadOpened"
	EventThreadClosed      EventType = "ThreadClosed"
	EventChatLocked        EventType = "ChatLocked"
	EventChatUnlocked      EventType = "ChatUnlocked"
	EventResolved          EventType = "InterventionResolved"
	EventIdentityUpdated   EventType = "IdentityUpdated"
	EventTransferred       EventType = "Transferred"
	// EventContextUpdated carries the visitor's session data (pages,
	// variables) for agents; visitors never see it.
	EventContextUpdated EventType = "ContextUpdated"
	// EventChatRated is the visitor's rating of an ended chat (Data: a
	// Rating without seq); for agents, webhooks and metrics, never pushed
	// to the visitor.
	EventChatRated EventType = "ChatRated"

	// Ephemeral events: fanned out, never stored (seq 0).
	EventTypingStarted EventType = "TypingStarted"
	EventTypingStopped EventType = "TypingStopped"
)

// Event is one entry of a chat's log.
type Event struct {
	Seq       uint64          `json:"seq"`
	Type      EventType       `json:"type"`
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

// NewChat is what CreateChat writes.
type NewChat struct {
	Chat      Chat
	Identity  *Identity // created or replaced when set
	TokenHash []byte    // the visitor token's hash; no token is stored when empty
	StartKey  string    // the client's request id; "" when the start is not idempotent
	Events    []Event   // the first events (seqs assigned here)
}

// MutateFunc changes a chat and returns the events to append. It runs inside
// the write transaction, possibly more than once: it must depend only on c and
// must not block. Returning an error writes nothing and is returned by Mutate.
// Changes to c.ID and c.LastSeq are ignored: the store owns them.
type MutateFunc func(c *Chat) ([]Event, error)

// Seat is an agent and its capacity (config Agent.MaxChats): a write that
// gives a chat to the agent names it, so that a store shared by several
// gateways can refuse the write that would put the agent over capacity.
type Seat struct {
	Agent string
	Max   int
}

// ErrNoSeat is returned by a seated write that would make its agent a
// participant of more open chats than its Seat's Max.
var ErrNoSeat = errors.New("store: the agent has no free seat")

// File describes a file stored with a chat. Its content is kept beside it,
// in its own bucket, so that checking who may read a file never loads it.
type File struct {
	ID     string `json:"id"`
	ChatID string `json:"chatId"`
	Name   string `json:"name"`
	// Type is the media type detected from the content, with its
	// parameters ("text/plain; charset=utf-8"): what a download is served as.
	Type string `json:"type"`
	Size int64  `json:"size"`
	From Party  `json:"from"`
	Time int64  `json:"time"` // unix ms
	Seq  uint64 `json:"seq"`  // the chat's FileUploaded event that announced it
	// Internal files are for agents only, as internal events are.
	Internal bool `json:"internal,omitempty"`
	// Expired is when retention deleted the content (unix ms); the record
	// and its event stay. 0 while the content is kept.
	Expired int64 `json:"expired,omitempty"`
}

// LeftMessage is a message a visitor left while no agent could chat (the
// "leave a message" form of an offline item), and its answer once an agent
// gave one.
type LeftMessage struct {
	ID         string          `json:"id"`
	Deployment string          `json:"deployment"`
	IdentityID string          `json:"identityId"`
	Name       string          `json:"name"`
	Email      string          `json:"email"`
	Message    string          `json:"message"`
	Context    json.RawMessage `json:"context,omitempty"` // the visit's session data, as the browser sent it
	CreatedAt  int64           `json:"createdAt"`         // unix ms
	Answer     *Answer         `json:"answer,omitempty"`
}

// Answer is an agent's answer to a left message.
type Answer struct {
	Text       string `json:"text"`
	AgentID    string `json:"agentId"`
	AgentName  string `json:"agentName"`
	AnsweredAt int64  `json:"answeredAt"` // unix ms
}

// OutboxState is where a webhook delivery is: pending or dead.
type OutboxState string

// Outbox states, as ListOutbox takes them.
const (
	OutboxPending OutboxState = "pending" // waiting in the outbox for its next attempt
	OutboxDead    OutboxState = "dead"    // gave up after too many attempts; retried only by hand
)

// OutboxEntry is one webhook delivery: one event for one subscription. The
// webhooks service writes it from the store's change feed, whose row commits
// with the event it announces: an acknowledged event is delivered at least
// once.
type OutboxEntry struct {
	// ID is assigned by the store when the entry is written and kept when it
	// goes dead and is retried: the delivery's id for the admin commands.
	ID           uint64          `json:"id"`
	Subscription string          `json:"subscription"` // the webhook's id
	Event        string          `json:"event"`        // "message.created"
	EventID      string          `json:"eventId"`      // stable across attempts and subscriptions
	Body         json.RawMessage `json:"body"`         // the payload, sent (and signed) as is
	CreatedAt    int64           `json:"createdAt"`    // unix ms
	Attempts     int             `json:"attempts"`     // failed attempts so far
	NextAt       int64           `json:"nextAt"`       // unix ms: due when ≤ now
	LastAttempt  int64           `json:"lastAttempt,omitempty"`
	LastStatus   int             `json:"lastStatus,omitempty"` // HTTP status of the last attempt; 0 if none came back
	LastError    string          `json:"lastError,omitempty"`
	DeadAt       int64           `json:"deadAt,omitempty"`
}

// PastCursor is a position in an agent's past chats: the last one read.
// The zero cursor is the newest.
type PastCursor struct {
	EndedAt int64
	ChatID  string
}

// Batch is what one transaction of the log committed: the chats it changed
// with the events it appended, in commit order, handed to the log's follower
// (the engine). Its writers are answered when the follower calls Done.
type Batch struct {
	Writes []Committed
	done   func()
}

// NewBatch is a batch of writes whose writers done answers.
func NewBatch(writes []Committed, done func()) *Batch { return &Batch{Writes: writes, done: done} }

// Done answers the batch's writers. The follower calls it once it has
// dispatched the batch, so a caller whose write returned finds its effect in
// whatever the follower maintains (the engine's view, subscribers' queues).
func (b *Batch) Done() {
	if b.done != nil {
		b.done()
	}
}

// HashToken is how tokens are keyed: they are never stored in clear.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ErrExpired is returned by FileContent for a file whose content retention
// deleted.
var ErrExpired = errors.New("store: expired")

// Retention is what a sweep keeps of one deployment's chats. A zero period
// keeps forever.
type Retention struct {
	Chats   time.Duration // ended chats, and dormant async conversations, idle longer are deleted
	Files   time.Duration // file content older is deleted; the file's record and event stay
	Restore time.Duration // a visitor token outlives its ended chat by this
}

// ExpiredChat reports whether chat c is past its retention at now (unix
// ms): ended, or an async conversation nobody is in between threads, with
// nothing written since the cutoff. Both stores' sweeps ask it, so a chat
// lives as long on bbolt as on PostgreSQL.
func ExpiredChat(c *Chat, ret Retention, now int64) bool {
	if ret.Chats <= 0 {
		return false
	}
	if max(c.LastActivity, c.EndedAt, c.CreatedAt) >= now-ret.Chats.Milliseconds() {
		return false
	}
	if c.State == StateEnded {
		return true
	}
	if c.Mode != "async" || c.State != StateIdle || c.ThreadOpen {
		return false
	}
	for _, p := range c.Participants {
		if p.Connected() {
			return false
		}
	}
	return true
}

// ErrAnswered is returned by AnswerMessage for a message already answered.
var ErrAnswered = errors.New("store: message already answered")
