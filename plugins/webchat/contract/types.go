package contract

import "encoding/json"

// Message is a transcript entry in Genesys' shape: what getTranscript,
// fetchHistory and the messageReceived event carry.
type Message struct {
	Index     uint64          `json:"index"`
	Type      string          `json:"type"`
	From      From            `json:"from"`
	Text      string          `json:"text"`
	Timestamp int64           `json:"timestamp"`
	RequestID string          `json:"requestId,omitempty"`
	Filter    string          `json:"filter,omitempty"` // sendFilteredMessage's regex: clients hide matches
	IsTyping  *bool           `json:"isTyping,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"` // a media request notice's {"mediaRequest":{...}}
	// FileDetails is a FileUploaded message's file:
	// {"file-name","file-size","file-id","file-type"}.
	FileDetails json.RawMessage `json:"fileDetails,omitempty"`
	// Internal marks what only agents and supervisors see: an internal
	// note or a silent supervisor's whisper. Visitors' wires never get
	// internal events, so they never see the field.
	Internal bool `json:"internal,omitempty"`
}

// From is a message's author.
type From struct {
	Name          string `json:"name"`
	Type          string `json:"type"` // "Client", "Agent", "Supervisor", "Bot", "External"
	ParticipantID string `json:"participantId"`
}

// MessageReceived is the data of the messageReceived event.
type MessageReceived struct {
	Messages  []Message `json:"messages"`
	Restoring bool      `json:"restoring"`
}

// StartChatOptions are startChat's options; a field not set is left out.
type StartChatOptions struct {
	Nickname  string `json:"nickname,omitempty"`
	Firstname string `json:"firstname,omitempty"`
	Lastname  string `json:"lastname,omitempty"`
	Email     string `json:"email,omitempty"`
	Subject   string `json:"subject,omitempty"`
	// UserData is an object, or a string holding one, as Genesys accepts.
	UserData  json.RawMessage  `json:"userData,omitempty"`
	RequestID string           `json:"requestId,omitempty"`
	Identity  *IdentityOptions `json:"identity,omitempty"`
	// SessionData continues as the identity of this session data.
	SessionData string `json:"sessionData,omitempty"`
	// IdentityToken (async) continues as the anonymous identity the browser
	// keeps.
	IdentityToken string `json:"identityToken,omitempty"`
	// NewConversation (async) starts another conversation of the same
	// identity.
	NewConversation bool            `json:"newConversation,omitempty"`
	Routing         *RoutingOptions `json:"routing,omitempty"`
	// InteractionData is Genesys' transport.interactionData.
	InteractionData *InteractionData `json:"interactionData,omitempty"`
	// RouteOnAttach keeps the chat out of routing until its client says
	// streamAttached (or the plugin's attach wait passed): Genesys Cloud's
	// guest chat, whose widget knows the agent only from a join its stream
	// saw.
	RouteOnAttach bool `json:"routeOnAttach,omitempty"`
}

// InteractionData is Genesys' transport.interactionData.
type InteractionData struct {
	Routing *RoutingOptions `json:"routing,omitempty"`
}

// IdentityOptions are the identity part of startChat and identify.
type IdentityOptions struct {
	UUID      string          `json:"uuid"`
	JWT       string          `json:"jwt"`
	Nickname  string          `json:"nickname"`
	Firstname string          `json:"firstname"`
	Lastname  string          `json:"lastname"`
	Email     string          `json:"email"`
	Avatar    string          `json:"avatar"`
	Extra     json.RawMessage `json:"extra"`
}

// RoutingOptions are what a page asks of routing, in Genesys' words.
type RoutingOptions struct {
	TargetAddress string   `json:"targetAddress,omitempty"` // a queue name
	Queue         string   `json:"queue,omitempty"`
	Priority      *int     `json:"priority,omitempty"` // 0–10
	Skills        []string `json:"skills,omitempty"`
	Language      string   `json:"language,omitempty"`
}

// StartChatResult is what startChat (and identify) resolve with.
type StartChatResult struct {
	ChatID string `json:"chatId"`
	// Token is left out of the answer to a retry (existing) later than the
	// engine's start retry window: the requestId no longer stands for the
	// chat.
	Token         string `json:"token,omitempty"`
	Mode          string `json:"mode"`
	ParticipantID string `json:"participantId"`
	Seq           uint64 `json:"seq"`
	Existing      bool   `json:"existing,omitempty"`
	// Resumed: async, the identity's open conversation was resumed rather
	// than a new one started; Seq is then its newest seq.
	Resumed bool `json:"resumed,omitempty"`
	// IdentityToken names the anonymous identity on an async deployment:
	// the browser keeps it and sends it with its next startChat.
	IdentityToken string `json:"identityToken,omitempty"`
}

// SendMessageOptions are the options of sendMessage, sendCustomNotice and
// sendFilteredMessage.
type SendMessageOptions struct {
	Message   *string `json:"message,omitempty"` // nil: none given
	RequestID string  `json:"requestId,omitempty"`
	Regex     string  `json:"regex,omitempty"` // sendFilteredMessage
	Type      string  `json:"type,omitempty"`
}

// SendResult is what the send commands resolve with.
type SendResult struct {
	Seq       uint64 `json:"seq"`
	Index     uint64 `json:"index"`
	Timestamp int64  `json:"timestamp"`
}

// SendTypingOptions are sendTyping's options; IsTyping nil means true.
type SendTypingOptions struct {
	IsTyping *bool `json:"isTyping,omitempty"`
}

// EndChatResult is what endChat resolves with.
type EndChatResult struct {
	Ended bool `json:"ended"`
}

// GetSessionDataOptions are getSessionData's options.
type GetSessionDataOptions struct {
	UserData bool `json:"userData,omitempty"` // also answer the chat's userData
}

// SessionData is what getSessionData resolves with for a visitor (a caller
// without a chat gets {}). The fields are in the order of the answer.
type SessionData struct {
	ChatID        string `json:"chatId"`
	Deployment    string `json:"deployment"`
	Mode          string `json:"mode"`
	ParticipantID string `json:"participantId"`
	Seq           uint64 `json:"seq"`
	// SessionData (async) is the signed session data that restores the
	// conversation on another browser or device (restore {sessionData}).
	SessionData string `json:"sessionData,omitempty"`
	SessionID   string `json:"sessionId"`
	State       string `json:"state"` // "queued", "active", "idle", "ended"
	TransportID string `json:"transportId"`
	// UserData is the chat's userData, when asked for.
	UserData json.RawMessage `json:"userData,omitempty"`
}

// FileLimits is what getFileLimits resolves with.
type FileLimits struct {
	Enabled    bool     `json:"enabled"`
	MaxBytes   int64    `json:"maxBytes,omitempty"`
	MaxUploads int      `json:"maxUploads,omitempty"`
	Types      []string `json:"types,omitempty"`
	Uploads    uint32   `json:"uploads"` // files already in the caller's chat
	// MessageChars is the longest message text the gateway takes, in
	// characters (limits.messageChars): a window refuses a longer one before
	// sending it. Here because every window asks getFileLimits as its chat
	// starts, with or without files.
	MessageChars int `json:"messageChars"`
}

// FileResult is what sendFile resolves with.
type FileResult struct {
	FileID      string          `json:"fileId"`
	Name        string          `json:"name"`
	Type        string          `json:"type"` // detected from the content
	Size        int64           `json:"size"`
	Seq         uint64          `json:"seq"`
	Index       uint64          `json:"index"`
	Timestamp   int64           `json:"timestamp"`
	FileDetails json.RawMessage `json:"fileDetails"`
}

// MediaState is the state of an agent's request for a file, as Genesys
// names it.
type MediaState string

// Media request states.
const (
	MediaPending  MediaState = "PENDING"
	MediaAccepted MediaState = "ACCEPTED"
	MediaDeclined MediaState = "DECLINED"
	MediaErrored  MediaState = "ERRORED"
	MediaSuccess  MediaState = "SUCCESS"
)

// Open reports whether the request still waits for the visitor's file.
func (s MediaState) Open() bool { return s == MediaPending || s == MediaAccepted }

// MediaRequest is an agent's request for a file: an entry of
// getMediaRequests, and answerMediaRequest's result.
type MediaRequest struct {
	ID        string     `json:"id"`
	Types     []string   `json:"types"`
	State     MediaState `json:"state"`
	Requester string     `json:"requester"` // the asking agent's id
	Time      int64      `json:"time"`      // asked at, unix ms
	Updated   int64      `json:"updated"`   // the latest change, unix ms
}

// MediaRequests is what getMediaRequests resolves with, oldest first.
type MediaRequests struct {
	MediaRequests []MediaRequest `json:"mediaRequests"`
}

// AnswerMediaRequestOptions are answerMediaRequest's options: the
// visitor's answer to an open request, ACCEPTED, DECLINED or ERRORED.
type AnswerMediaRequestOptions struct {
	ID    string     `json:"id"`
	State MediaState `json:"state"`
}

// DownloadFileOptions are downloadFile's options. The plugin resolves with
// the file itself (a *bus.File), which wires that carry bytes send as it is.
type DownloadFileOptions struct {
	FileID string `json:"fileId"`
}

// GetAvailabilityOptions are getAvailability's options: the deployment
// (the caller's by default) and what routing would be asked for.
type GetAvailabilityOptions struct {
	Deployment string `json:"deployment"`
	RoutingOptions
}

// Transcript is what getTranscript resolves with: every message of the
// visitor's chat the visitor sees, oldest first.
type Transcript struct {
	Messages []Message `json:"messages"`
}

// FetchHistoryOptions are fetchHistory's options: a page of Limit (at most
// 100) messages before seq Before (0: the newest).
type FetchHistoryOptions struct {
	Before uint64 `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// History is what fetchHistory resolves with. The fields are in the order
// of the answer.
type History struct {
	Messages  []Message `json:"messages"`
	Oldest    uint64    `json:"oldest"` // where the next page starts: its before
	Restoring bool      `json:"restoring"`
}

// AgentInfo is one agent of a chat: an entry of getAgents and getStats, and
// of the agents map of the *Connected events.
type AgentInfo struct {
	Name             string `json:"name"`
	Connected        bool   `json:"connected"`
	Supervisor       bool   `json:"supervisor"`
	ConnectedTime    int64  `json:"connectedTime"`
	DisconnectedTime int64  `json:"disconnectedTime"`
}

// Agents is what getAgents resolves with.
type Agents struct {
	Agents []AgentInfo `json:"agents"`
}

// Stats is what getStats resolves with. The fields are in the order of the
// answer.
type Stats struct {
	Agents    []AgentInfo `json:"agents"`
	Duration  int64       `json:"duration"` // ms, to now while the chat is open
	EndTime   int64       `json:"endTime"`
	StartTime int64       `json:"startTime"`
}

// VerifySessionResult is what verifySession resolves with.
type VerifySessionResult struct {
	SessionActive bool `json:"sessionActive"`
}

// RestoreOptions are restore's options: SessionData (from getSessionData)
// restores an asynchronous conversation on another browser or device.
type RestoreOptions struct {
	SessionData string `json:"sessionData,omitempty"`
}

// Restored is what restore resolves with. Token and IdentityToken come
// with a restore by session data only. The fields are in the order of the
// answer.
type Restored struct {
	Async         bool   `json:"async"`
	ChatID        string `json:"chatId"`
	IdentityToken string `json:"identityToken,omitempty"`
	Mode          string `json:"mode"`
	ParticipantID string `json:"participantId"`
	Read          uint64 `json:"read"` // the visitor's read mark
	Restored      bool   `json:"restored"`
	Seq           uint64 `json:"seq"`
	State         string `json:"state"`
	Token         string `json:"token,omitempty"`
}

// AddPrefilterResult is what addPrefilter resolves with: the filters, as a
// list.
type AddPrefilterResult struct {
	Filters []string `json:"filters"`
}

// QueuePosition is what getQueuePosition resolves with, and the data of the
// queuePosition event: the visitor's place in its queue (0 when not
// waiting), and the queue's recent wait in ms when it is waiting and one is
// known.
type QueuePosition struct {
	Position   int    `json:"position"`
	Queue      string `json:"queue"`
	RecentWait *int64 `json:"recentWait,omitempty"`
}

// PollOptions are poll's options (private: the plugin's own).
type PollOptions struct {
	After uint64 `json:"after,omitempty"`
}

// Conversation is one entry of listConversations: one of the visitor's
// asynchronous conversations on the deployment.
type Conversation struct {
	ChatID       string   `json:"chatId"`
	Mode         string   `json:"mode"`
	State        string   `json:"state"`
	Locked       bool     `json:"locked"`
	CreatedAt    int64    `json:"createdAt"`
	LastActivity int64    `json:"lastActivity"`
	LastSeq      uint64   `json:"lastSeq"`
	LastMessage  *Message `json:"lastMessage"`
	Unread       int      `json:"unread"`
	Current      bool     `json:"current"` // the caller's own
	Initiated    bool     `json:"identityInitiated"`
}

// Conversations is what listConversations resolves with.
type Conversations struct {
	Conversations []Conversation `json:"conversations"`
}

// SwitchConversationOptions are switchConversation's options; it resolves
// with a StartChatResult holding a token for that conversation.
type SwitchConversationOptions struct {
	ChatID string `json:"chatId"`
}

// MarkReadOptions are markRead's options: read up to Seq (0: everything).
type MarkReadOptions struct {
	Seq uint64 `json:"seq,omitempty"`
}

// MarkReadResult is what markRead resolves with: the visitor's read mark.
type MarkReadResult struct {
	Read uint64 `json:"read"`
}

// UpdateContextOptions are updateContext's options: the visit's pages and
// variables (docs/proactive.md).
type UpdateContextOptions struct {
	Context json.RawMessage `json:"context"`
}

// UpdateContextResult is what updateContext resolves with: the seq of the
// ContextUpdated event.
type UpdateContextResult struct {
	Seq uint64 `json:"seq"`
}

// LeaveMessageOptions are leaveMessage's options: the "leave a message"
// form of an offline item.
type LeaveMessageOptions struct {
	Name          string          `json:"name,omitempty"`
	Email         string          `json:"email,omitempty"`
	Message       *string         `json:"message,omitempty"`
	IdentityToken string          `json:"identityToken,omitempty"`
	Context       json.RawMessage `json:"context,omitempty"`
}

// LeaveMessageResult is what leaveMessage resolves with. The fields are in
// the order of the answer.
type LeaveMessageResult struct {
	CreatedAt     int64  `json:"createdAt"`
	ID            string `json:"id"`
	IdentityToken string `json:"identityToken"` // keep it to read the answer (listLeftMessages)
}

// ListLeftMessagesOptions are listLeftMessages' options.
type ListLeftMessagesOptions struct {
	IdentityToken string `json:"identityToken,omitempty"`
}

// LeftMessage is a left message as its visitor reads it back.
type LeftMessage struct {
	ID        string     `json:"id"`
	Message   string     `json:"message"`
	CreatedAt int64      `json:"createdAt"`
	Answer    *LeftReply `json:"answer,omitempty"`
}

// LeftReply is an agent's answer as the visitor reads it.
type LeftReply struct {
	Text       string `json:"text"`
	AgentName  string `json:"agentName"`
	AnsweredAt int64  `json:"answeredAt"`
}

// LeftMessages is what listLeftMessages resolves with, oldest first.
type LeftMessages struct {
	Messages []LeftMessage `json:"messages"`
}

// RateChatOptions are rateChat's options: a whole Rating from 1 to 5, and
// a comment of at most 1000 characters.
type RateChatOptions struct {
	Rating  *float64 `json:"rating,omitempty"`
	Comment string   `json:"comment,omitempty"`
}

// RateChatResult is what rateChat resolves with. The fields are in the
// order of the answer.
type RateChatResult struct {
	ChatID    string `json:"chatId"`
	Comment   string `json:"comment"`
	Rating    int    `json:"rating"`
	Timestamp int64  `json:"timestamp"`
}

// OpenConversationOptions are openConversation's options; it resolves with
// a StartChatResult for the identity's open conversation.
type OpenConversationOptions struct {
	IdentityToken string           `json:"identityToken,omitempty"`
	Identity      *IdentityOptions `json:"identity,omitempty"`
}

// Availability is what getAvailability resolves with: the answer to RingCX's
// proactive-trigger question "execute only if agents are available", and
// the counts behind it.
type Availability struct {
	Deployment string `json:"deployment"`
	Queue      string `json:"queue"`
	// Probability that a chat offered now is served at once: 1 when the
	// eligible online agents have more free slots than chats already wait,
	// else 0.
	Probability        int `json:"probability"`
	AgentsOnline       int `json:"agentsOnline"`       // online agents able to serve the queue
	AgentsWithCapacity int `json:"agentsWithCapacity"` // of those, with a free chat slot
	FreeSlots          int `json:"freeSlots"`          // chats they can still take, together
	Queued             int `json:"queued"`             // chats waiting in the queue
}

// SendFileOptions are sendFile's options; the file travels beside them
// (an upload), never inside.
type SendFileOptions struct {
	RequestID string `json:"requestId,omitempty"` // a retry answers the first attempt's file
}

// UpdateUserDataResult is what updateUserData resolves with for a visitor:
// the chat's userData after the merge. (A caller without a chat gets the
// merge over the deployment's defaults as the bare object.) The options are
// the userData object itself, or a string holding one.
type UpdateUserDataResult struct {
	UserData json.RawMessage `json:"userData"`
}

// Profile is what a visitor is called.
type Profile struct {
	Nickname  string `json:"nickname,omitempty"`
	Firstname string `json:"firstname,omitempty"`
	Lastname  string `json:"lastname,omitempty"`
	Email     string `json:"email,omitempty"`
}

// IdentifyResult is what identify resolves with. A company uuid that is
// not the chat's identity starts a new chat for it (NewChat, with its Mode,
// Seq and Token); otherwise the chat goes on with the identity's Visitor
// profile. The fields are in the order of the answer.
type IdentifyResult struct {
	ChatID        string   `json:"chatId"`
	Mode          string   `json:"mode,omitempty"`
	NewChat       bool     `json:"newChat"`
	ParticipantID string   `json:"participantId"`
	Seq           *uint64  `json:"seq,omitempty"`
	Token         string   `json:"token,omitempty"`
	Visitor       *Profile `json:"visitor,omitempty"`
}
