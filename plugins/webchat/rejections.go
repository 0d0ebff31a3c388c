package webchat

import (
	"fmt"
	"net/http"

	"github.com/cxgate/cxgate/bus"
)

// Rejections, with the texts of the WebChatService reference. Codes are
// append-only.
var (
	ErrAlreadyActive   = bus.Reject(http.StatusConflict, "already_active", "There is already an active chat session.")
	ErrInvalidUserData = bus.Reject(http.StatusBadRequest, "invalid_user_data", "malformed data object provided in userData property.")
	ErrNoActiveSession = bus.Reject(http.StatusConflict, "no_active_session", "There is no active chat session.")
	// Some commands document the shorter text for the same case.
	ErrNoActiveSessionShort = bus.Reject(http.StatusConflict, "no_active_session", "No active chat session.")
	ErrNoMessage            = bus.Reject(http.StatusBadRequest, "no_message", "No message text provided.")
	ErrInvalidFilters       = bus.Reject(http.StatusBadRequest, "invalid_filters", "Missing or invalid filters provided. Please provide a regular expression or an array of regular expressions.")
	ErrRestoreFailed        = bus.Reject(http.StatusNotFound, "restore_failed", "No chat session found to restore.")
	ErrAsyncOnly            = bus.Reject(http.StatusConflict, "async_only", "Fetching history messages applies only to Asynchronous chat.")
	ErrNoMoreMessages       = bus.Reject(http.StatusConflict, "no_more_messages", "No more messages to fetch.")
	ErrFilesUnsupported     = bus.Reject(http.StatusNotImplemented, "unsupported", "This transport doesn't support file uploads.")
	ErrDownloadUnsupported  = bus.Reject(http.StatusNotImplemented, "unsupported", "This transport doesn't support file download.")
	ErrUnknownDeployment    = bus.Reject(http.StatusNotFound, "unknown_deployment", "Unknown deployment.")
	ErrInvalidOptions       = bus.ErrInvalidOptions
	ErrAsyncNoEnd           = bus.Reject(http.StatusConflict, "async_no_end", "An asynchronous conversation cannot be ended by the visitor.")
	ErrLocked               = bus.Reject(http.StatusConflict, "chat_locked", "This conversation is locked: new messages are not accepted.")
	ErrNotYourConversation  = bus.Reject(http.StatusNotFound, "conversation_not_found", "No such conversation for this visitor.")
	ErrUnknownQueue         = bus.Reject(http.StatusBadRequest, "unknown_queue", "The routing target is not a known queue.")
	ErrBadRouting           = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "routing: priority is 0–10, at most 16 skills of 64 characters, a language of 64.")
	ErrNoAgents             = bus.Reject(http.StatusServiceUnavailable, "no_agents", "No agent is available right now; please try again later.")
)

func errMessageTooLong(max int) *bus.Rejection {
	return bus.Reject(http.StatusRequestEntityTooLarge, "message_too_long",
		fmt.Sprintf("Message length exceeds configured threshold of (%d) characters", max))
}

func errTooLarge(what string, max int) *bus.Rejection {
	return bus.Reject(http.StatusRequestEntityTooLarge, bus.CodeTooLarge,
		fmt.Sprintf("%s is larger than %d bytes.", what, max))
}
