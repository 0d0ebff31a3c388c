package contract

// The rejection codes of WebChatService, beside the bus's generic ones
// (invalid_request, not_found, too_large, unauthorized, ...). Wires switch on them: GMS maps no_active_session
// to its "chat ended" code, Genesys Cloud's guest chat a missing media
// request to its 404. Codes are append-only; a code never changes meaning.
const (
	CodeAlreadyActive        = "already_active"
	CodeInvalidUserData      = "invalid_user_data"
	CodeNoActiveSession      = "no_active_session"
	CodeNoMessage            = "no_message"
	CodeMessageTooLong       = "message_too_long"
	CodeInvalidFilters       = "invalid_filters"
	CodeRestoreFailed        = "restore_failed"
	CodeAsyncOnly            = "async_only"
	CodeNoMoreMessages       = "no_more_messages"
	CodeUnknownDeployment    = "unknown_deployment"
	CodeAsyncNoEnd           = "async_no_end"
	CodeChatLocked           = "chat_locked"
	CodeConversationNotFound = "conversation_not_found"
	CodeUnknownQueue         = "unknown_queue"
	CodeNoAgents             = "no_agents"
	CodeIdentityRequired     = "identity_required"
	CodeIdentityInvalid      = "identity_invalid"
	CodeIdentityExpired      = "identity_expired"
	CodeIdentityNotAllowed   = "identity_not_allowed"
	CodeInvalidContext       = "invalid_context"
	CodeInvalidEmail         = "invalid_email"
	CodeTooManyMessages      = "too_many_messages"
	CodeChatNotEnded         = "chat_not_ended"
	CodeAlreadyRated         = "already_rated"
	CodeRatingClosed         = "rating_closed"
	CodeInvalidRating        = "invalid_rating"
	CodeCommentTooLong       = "comment_too_long"
	CodeMediaRequestNotFound = "media_request_not_found"
	CodeMediaRequestClosed   = "media_request_closed"
	CodeOriginNotAllowed     = "origin_not_allowed" // the wires' check of a page's origin
)

// The codes of file rejections: sendFile's and downloadFile's, which
// AgentService's file commands and the lifecycle's export links share
// (plugins/internal/filerej makes them).
const (
	CodeFilesUnsupported   = "files_unsupported" // the deployment has files off
	CodeNoFile             = "no_file"
	CodeFileTooLarge       = "file_too_large"
	CodeFileTypeNotAllowed = "file_type_not_allowed"
	CodeFileLimitReached   = "file_limit_reached"
	CodeFileNotFound       = "file_not_found"
	CodeFileExpired        = "file_expired"
)
