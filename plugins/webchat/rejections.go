package webchat

import (
	"fmt"
	"net/http"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// The rejections of WebChatService: the closed set its commands answer
// beside the bus's generic ones and the file rejections (plugins/internal/
// filerej), with the texts of the WebChatService reference where it has
// one. Codes are in contract/codes.go; they are append-only.
var (
	ErrAlreadyActive   = bus.Reject(http.StatusConflict, contract.CodeAlreadyActive, "There is already an active chat session.")
	ErrInvalidUserData = bus.Reject(http.StatusBadRequest, contract.CodeInvalidUserData, "malformed data object provided in userData property.")
	ErrNoActiveSession = bus.Reject(http.StatusConflict, contract.CodeNoActiveSession, "There is no active chat session.")
	// Some commands document the shorter text for the same case.
	ErrNoActiveSessionShort = bus.Reject(http.StatusConflict, contract.CodeNoActiveSession, "No active chat session.")
	ErrNoMessage            = bus.Reject(http.StatusBadRequest, contract.CodeNoMessage, "No message text provided.")
	ErrInvalidFilters       = bus.Reject(http.StatusBadRequest, contract.CodeInvalidFilters, "Missing or invalid filters provided. Please provide a regular expression or an array of regular expressions.")
	ErrRestoreFailed        = bus.Reject(http.StatusNotFound, contract.CodeRestoreFailed, "No chat session found to restore.")
	ErrAsyncOnly            = bus.Reject(http.StatusConflict, contract.CodeAsyncOnly, "Fetching history messages applies only to Asynchronous chat.")
	ErrNoMoreMessages       = bus.Reject(http.StatusConflict, contract.CodeNoMoreMessages, "No more messages to fetch.")
	ErrUnknownDeployment    = bus.Reject(http.StatusNotFound, contract.CodeUnknownDeployment, "Unknown deployment.")
	ErrInvalidOptions       = bus.ErrInvalidOptions
	ErrAsyncNoEnd           = bus.Reject(http.StatusConflict, contract.CodeAsyncNoEnd, "An asynchronous conversation cannot be ended by the visitor.")
	ErrLocked               = bus.Reject(http.StatusConflict, contract.CodeChatLocked, "This conversation is locked: new messages are not accepted.")
	ErrNotYourConversation  = bus.Reject(http.StatusNotFound, contract.CodeConversationNotFound, "No such conversation for this visitor.")
	ErrUnknownQueue         = bus.Reject(http.StatusBadRequest, contract.CodeUnknownQueue, "The routing target is not a known queue.")
	ErrBadRouting           = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "routing: priority is 0–10, at most 16 skills of 64 characters, a language of 64.")
	ErrNoAgents             = bus.Reject(http.StatusServiceUnavailable, contract.CodeNoAgents, "No agent is available right now; please try again later.")
)

// Identity rejections.
var (
	ErrIdentityRequired = bus.Reject(http.StatusUnauthorized, contract.CodeIdentityRequired, "This deployment requires a signed identity: identity.jwt with the visitor's uuid.")
	ErrIdentityInvalid  = bus.Reject(http.StatusUnauthorized, contract.CodeIdentityInvalid, "The identity signature is not valid.")
	ErrIdentityExpired  = bus.Reject(http.StatusUnauthorized, contract.CodeIdentityExpired, "The identity signature has expired.")
	// ErrIdentityNotAllowed: an anonymous deployment names its visitors
	// itself; a uuid from the page would let anyone claim anyone's history.
	ErrIdentityNotAllowed = bus.Reject(http.StatusForbidden, contract.CodeIdentityNotAllowed, "This deployment keeps visitors anonymous: it takes no identity.uuid or identity.jwt.")
	ErrIdentityOptions    = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "identity must be an object with uuid, jwt, nickname, firstname, lastname, email, avatar and extra.")
)

// Rejections of rateChat. Codes are append-only.
var (
	ErrNoChatToRate = bus.Reject(http.StatusConflict, contract.CodeNoActiveSession, "There is no chat session to rate.")
	ErrNotEnded     = bus.Reject(http.StatusConflict, contract.CodeChatNotEnded, "A chat can be rated once it has ended.")
	ErrAlreadyRated = bus.Reject(http.StatusConflict, contract.CodeAlreadyRated, "This chat has already been rated.")
	ErrRatingClosed = bus.Reject(http.StatusConflict, contract.CodeRatingClosed, "The time to rate this chat has passed.")
	ErrBadRating    = bus.Reject(http.StatusBadRequest, contract.CodeInvalidRating,
		fmt.Sprintf("rating must be a whole number from %d to %d.", engine.RatingMin, engine.RatingMax))
	ErrCommentTooLong = bus.Reject(http.StatusRequestEntityTooLarge, contract.CodeCommentTooLong,
		fmt.Sprintf("comment is limited to %d characters.", engine.RatingCommentChars))
)

// Rejections of the media request commands.
var (
	ErrNoMediaRequest     = bus.Reject(http.StatusNotFound, contract.CodeMediaRequestNotFound, "No such media request in this chat.")
	ErrMediaRequestClosed = bus.Reject(http.StatusConflict, contract.CodeMediaRequestClosed, "The media request is no longer open.")
	ErrMediaState         = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "state must be ACCEPTED, DECLINED or ERRORED.")
)

// Rejections of proactive engagement. Codes are append-only.
var (
	ErrInvalidContext = bus.Reject(http.StatusBadRequest, contract.CodeInvalidContext,
		"context: at most 20 pages (title 300 characters, url 2048 bytes), 50 variables (name 64, string value 500 characters) of strings, numbers or booleans, 16 KiB of JSON in all.")
	ErrInvalidEmail    = bus.Reject(http.StatusBadRequest, contract.CodeInvalidEmail, "email is not an email address.")
	ErrNameTooLong     = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "name is limited to 100 characters.")
	ErrTooManyMessages = bus.Reject(http.StatusTooManyRequests, contract.CodeTooManyMessages, "Too many messages left; please wait for an answer.")
)

// ErrNoOpenConversation rejects openConversation when the identity has no
// open asynchronous conversation on the deployment (or is unknown).
var ErrNoOpenConversation = bus.Reject(http.StatusNotFound, bus.CodeNotFound, "No open conversation.")

// ErrNoDeployment rejects getAvailability without a deployment.
var ErrNoDeployment = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "deployment is required.")

// ErrNoFileID rejects a download without a file id.
var ErrNoFileID = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "fileId is required.")

// Rejections of options out of bounds.
var (
	ErrFormFields       = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "Form fields are limited to 256 bytes of UTF-8 text.")
	ErrStartRequestID   = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "requestId must be 16 to 128 characters: a random id kept by the client.")
	ErrRequestIDTooLong = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "requestId is limited to 128 characters.")
	ErrRegexTooLong     = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "regex is limited to 512 characters.")
)

func errMessageTooLong(max int) *bus.Rejection {
	return bus.Reject(http.StatusRequestEntityTooLarge, contract.CodeMessageTooLong,
		fmt.Sprintf("Message length exceeds configured threshold of (%d) characters", max))
}

func errTooLarge(what string, max int) *bus.Rejection {
	return bus.Reject(http.StatusRequestEntityTooLarge, bus.CodeTooLarge,
		fmt.Sprintf("%s is larger than %d bytes.", what, max))
}

// Rejections lists every rejection of the plugin, by name, those with a
// figure in their text with a sample one: the golden table of every
// plugin's rejections pins them (plugins/webchat/rejections_test.go).
func Rejections() map[string]*bus.Rejection {
	return map[string]*bus.Rejection{
		"ErrAlreadyActive":        ErrAlreadyActive,
		"ErrInvalidUserData":      ErrInvalidUserData,
		"ErrNoActiveSession":      ErrNoActiveSession,
		"ErrNoActiveSessionShort": ErrNoActiveSessionShort,
		"ErrNoMessage":            ErrNoMessage,
		"ErrInvalidFilters":       ErrInvalidFilters,
		"ErrRestoreFailed":        ErrRestoreFailed,
		"ErrAsyncOnly":            ErrAsyncOnly,
		"ErrNoMoreMessages":       ErrNoMoreMessages,
		"ErrUnknownDeployment":    ErrUnknownDeployment,
		"ErrInvalidOptions":       ErrInvalidOptions,
		"ErrAsyncNoEnd":           ErrAsyncNoEnd,
		"ErrLocked":               ErrLocked,
		"ErrNotYourConversation":  ErrNotYourConversation,
		"ErrUnknownQueue":         ErrUnknownQueue,
		"ErrBadRouting":           ErrBadRouting,
		"ErrNoAgents":             ErrNoAgents,
		"ErrIdentityRequired":     ErrIdentityRequired,
		"ErrIdentityInvalid":      ErrIdentityInvalid,
		"ErrIdentityExpired":      ErrIdentityExpired,
		"ErrIdentityNotAllowed":   ErrIdentityNotAllowed,
		"ErrIdentityOptions":      ErrIdentityOptions,
		"ErrNoChatToRate":         ErrNoChatToRate,
		"ErrNotEnded":             ErrNotEnded,
		"ErrAlreadyRated":         ErrAlreadyRated,
		"ErrRatingClosed":         ErrRatingClosed,
		"ErrBadRating":            ErrBadRating,
		"ErrCommentTooLong":       ErrCommentTooLong,
		"ErrNoMediaRequest":       ErrNoMediaRequest,
		"ErrMediaRequestClosed":   ErrMediaRequestClosed,
		"ErrMediaState":           ErrMediaState,
		"ErrInvalidContext":       ErrInvalidContext,
		"ErrInvalidEmail":         ErrInvalidEmail,
		"ErrNameTooLong":          ErrNameTooLong,
		"ErrTooManyMessages":      ErrTooManyMessages,
		"ErrNoOpenConversation":   ErrNoOpenConversation,
		"ErrNoDeployment":         ErrNoDeployment,
		"ErrNoFileID":             ErrNoFileID,
		"ErrFormFields":           ErrFormFields,
		"ErrStartRequestID":       ErrStartRequestID,
		"ErrRequestIDTooLong":     ErrRequestIDTooLong,
		"ErrRegexTooLong":         ErrRegexTooLong,
		"errMessageTooLong(4000)": errMessageTooLong(4000),
		"errTooLarge(userData)":   errTooLarge("userData", 16384),
	}
}
