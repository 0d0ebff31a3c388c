package agent

import (
	"net/http"

	"github.com/cxgate/cxgate/bus"
)

// The rejection codes of AgentService, beside the bus's generic ones
// (forbidden, invalid_request, ...) and the file codes of
// plugins/webchat/contract. The engine's sentinels (engine/errors.go) become
// these rejections in rejectionFor. Codes are append-only.
const (
	CodeInvalidStatus   = "invalid_status"
	CodeChatNotFound    = "chat_not_found"
	CodeNotParticipant  = "not_participant"
	CodeChatEnded       = "chat_ended"
	CodeAlreadyAssigned = "already_assigned"
	CodeAtCapacity      = "at_capacity"
	CodeNoMessage       = "no_message"
	CodeNotAsync        = "not_async"
	CodeInvalidTransfer = "invalid_transfer"
	CodeNotSupervisor   = "not_supervisor"
	CodeNotEligible     = "not_eligible"
	CodeAgentOffline    = "agent_offline"
	CodeMessageNotFound = "message_not_found"
	CodeAlreadyAnswered = "already_answered"
	CodeMessageTooLong  = "message_too_long"
)

// Rejections. Codes are append-only.
var (
	ErrInvalidOptions = bus.ErrInvalidOptions
	ErrNotAgent       = bus.Reject(http.StatusForbidden, bus.CodeForbidden, "AgentService commands need an agent token.")
	ErrBadStatus      = bus.Reject(http.StatusBadRequest, CodeInvalidStatus, "status must be online, away or offline.")
	ErrNoChatID       = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "chatId is required.")
	ErrChatNotFound   = bus.Reject(http.StatusNotFound, CodeChatNotFound, "No such chat.")
	ErrNotParticipant = bus.Reject(http.StatusForbidden, CodeNotParticipant, "You are not a participant of this chat.")
	ErrChatEnded      = bus.Reject(http.StatusConflict, CodeChatEnded, "The chat has ended.")
	ErrAlreadyTaken   = bus.Reject(http.StatusConflict, CodeAlreadyAssigned, "The chat was already accepted.")
	ErrAtCapacity     = bus.Reject(http.StatusConflict, CodeAtCapacity, "You are at your maximum number of chats.")
	ErrNoMessage      = bus.Reject(http.StatusBadRequest, CodeNoMessage, "No message text provided.")
)

// ErrNotAsync rejects lock and unlock on live chats.
var ErrNotAsync = bus.Reject(http.StatusConflict, CodeNotAsync, "Only asynchronous conversations can be locked.")

// Rejections of transfers and supervision.
var (
	ErrTransferTarget = bus.Reject(http.StatusBadRequest, CodeInvalidTransfer, "transferChat needs exactly one of agentId or queue, naming another agent or a known queue.")
	ErrNotSupervisor  = bus.Reject(http.StatusForbidden, CodeNotSupervisor, "Only supervisors may join chats they were not assigned.")
	ErrNotEligible    = bus.Reject(http.StatusConflict, CodeNotEligible, "You lack the skills or language this chat needs.")
	ErrAgentOffline   = bus.Reject(http.StatusConflict, CodeAgentOffline, "That agent is offline: transfer to an agent who is online or away, or to a queue.")
)

// ErrNoFileID rejects a download without a file id.
var ErrNoFileID = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "fileId is required.")

// ErrMediaTypes refuses a requestFile whose types are not a short list of
// short media types.
var ErrMediaTypes = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest,
	"types must be at most 16 media types (\"image/png\", \"image/*\", \".pdf\") of at most 100 characters each.")

// Rejections of left messages. Codes are append-only.
var (
	ErrMessageNotFound = bus.Reject(http.StatusNotFound, CodeMessageNotFound, "No such left message.")
	ErrAlreadyAnswered = bus.Reject(http.StatusConflict, CodeAlreadyAnswered, "This message has already been answered.")
	ErrNoMessageID     = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "id is required.")
)

// ErrBadCursor rejects a before that listPastChats did not give out.
var ErrBadCursor = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "before must be a next value listPastChats answered.")

// Rejections of options out of bounds.
var (
	ErrMessageTooLong     = bus.Reject(http.StatusRequestEntityTooLarge, CodeMessageTooLong, "The message is too long.")
	ErrRequestIDTooLong   = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "requestId is limited to 128 characters.")
	ErrDispositionTooLong = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "disposition is limited to 128 characters.")
	ErrQueryTooLong       = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "query is limited to 200 characters.")
)

// Rejections lists every rejection of the plugin by name: the golden table
// of every plugin's rejections pins them (plugins/webchat/rejections_test.go).
func Rejections() map[string]*bus.Rejection {
	return map[string]*bus.Rejection{
		"ErrInvalidOptions":     ErrInvalidOptions,
		"ErrNotAgent":           ErrNotAgent,
		"ErrBadStatus":          ErrBadStatus,
		"ErrNoChatID":           ErrNoChatID,
		"ErrChatNotFound":       ErrChatNotFound,
		"ErrNotParticipant":     ErrNotParticipant,
		"ErrChatEnded":          ErrChatEnded,
		"ErrAlreadyTaken":       ErrAlreadyTaken,
		"ErrAtCapacity":         ErrAtCapacity,
		"ErrNoMessage":          ErrNoMessage,
		"ErrTransferTarget":     ErrTransferTarget,
		"ErrNotSupervisor":      ErrNotSupervisor,
		"ErrNotEligible":        ErrNotEligible,
		"ErrAgentOffline":       ErrAgentOffline,
		"ErrMessageNotFound":    ErrMessageNotFound,
		"ErrAlreadyAnswered":    ErrAlreadyAnswered,
		"ErrNoMessageID":        ErrNoMessageID,
		"ErrMessageTooLong":     ErrMessageTooLong,
		"ErrRequestIDTooLong":   ErrRequestIDTooLong,
		"ErrDispositionTooLong": ErrDispositionTooLong,
		"ErrQueryTooLong":       ErrQueryTooLong,
	}
}
