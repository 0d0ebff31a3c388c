package engine

import "errors"

// The engine's errors: the closed set of what it refuses, as sentinels
// compared with errors.Is (the engine may wrap them with context). They
// carry no client code, text or HTTP status: each plugin turns the ones its
// commands can meet into its own rejections (its codes.go), where the
// client's words are chosen.
var (
	// ErrNotFound: no such chat (or identity, token, left message).
	ErrNotFound = errors.New("chat: not found")
	// ErrEnded: the chat has ended.
	ErrEnded = errors.New("chat: ended")
	// ErrNotParticipant: the agent is not in the chat.
	ErrNotParticipant = errors.New("chat: agent is not in this chat")
	// ErrAssigned: another agent accepted the chat first.
	ErrAssigned = errors.New("chat: already assigned")
	// ErrUnknownAgent: no such agent (a transfer's target).
	ErrUnknownAgent = errors.New("chat: unknown agent")
	// ErrNoDeployment: no such deployment.
	ErrNoDeployment = errors.New("chat: unknown deployment")
	// ErrAtCapacity: the agent has as many chats as it may.
	ErrAtCapacity = errors.New("chat: agent is at capacity")
	// ErrLocked: an asynchronous conversation is locked to the visitor.
	ErrLocked = errors.New("chat: locked")
	// ErrUnknownQueue: no such queue (a start's or a transfer's target).
	ErrUnknownQueue = errors.New("chat: unknown queue")
	// ErrNotEligible: the agent lacks the skills or language the chat needs.
	ErrNotEligible = errors.New("chat: the agent lacks the skills or language the chat needs")
	// ErrAgentOffline: a transfer's target agent is offline.
	ErrAgentOffline = errors.New("chat: the agent is offline")
)

// Errors of left messages.
var (
	// ErrAnswered: the left message has already been answered.
	ErrAnswered = errors.New("chat: message already answered")
	// ErrTooManyMessages: the visitor has MaxOpenMessages unanswered.
	ErrTooManyMessages = errors.New("chat: too many unanswered messages from this visitor")
)

// Errors of Rate.
var (
	// ErrNotEnded: only an ended chat is rated.
	ErrNotEnded = errors.New("chat: not ended")
	// ErrAlreadyRated: a chat is rated once.
	ErrAlreadyRated = errors.New("chat: already rated")
	// ErrRatingClosed: the deployment's restore window has passed.
	ErrRatingClosed = errors.New("chat: rating window passed")
)

// Errors of uploads and downloads. The refusals of a limit are wrapped with
// the figures, for the logs; the plugin tells the client the limit from the
// deployment's policy (FilePolicy) and the type from the upload (UploadType).
var (
	// ErrFilesDisabled: the chat's deployment takes and serves no files.
	ErrFilesDisabled = errors.New("chat: files are disabled for the deployment")
	// ErrNoFile: the upload carried no file, or an empty one.
	ErrNoFile = errors.New("chat: no file")
	// ErrFileNotFound: no such file, or one of another chat.
	ErrFileNotFound = errors.New("chat: file not found")
	// ErrFileExpired: the file's content was deleted by the deployment's
	// files retention; its FileUploaded event stays in the transcript.
	ErrFileExpired = errors.New("chat: file expired")
	// ErrFileTooLarge: the file is over the deployment's files.maxBytes.
	ErrFileTooLarge = errors.New("chat: file too large")
	// ErrFileType: the type detected from the content is not in the
	// deployment's files.types.
	ErrFileType = errors.New("chat: file type not allowed")
	// ErrFileLimit: the chat holds files.maxUploads files already.
	ErrFileLimit = errors.New("chat: file limit reached")
)
