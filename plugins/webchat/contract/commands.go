package contract

import "strings"

// Service is the plugin's name on the bus.
const Service = "WebChatService"

// The commands WebChatService registers, by the full name callers send
// ("WebChatService.startChat"). Local gives the name the plugin registers.
const (
	StartChat           = Service + ".startChat"
	EndChat             = Service + ".endChat"
	SendMessage         = Service + ".sendMessage"
	SendCustomNotice    = Service + ".sendCustomNotice"
	SendTyping          = Service + ".sendTyping"
	SendFilteredMessage = Service + ".sendFilteredMessage"
	AddPrefilter        = Service + ".addPrefilter"
	UpdateUserData      = Service + ".updateUserData"
	GetTranscript       = Service + ".getTranscript"
	GetAgents           = Service + ".getAgents"
	GetStats            = Service + ".getStats"
	GetSessionData      = Service + ".getSessionData"
	VerifySession       = Service + ".verifySession"
	Restore             = Service + ".restore"
	StartPoll           = Service + ".startPoll"
	StopPoll            = Service + ".stopPoll"
	ResetPollExceptions = Service + ".resetPollExceptions"
	Poll                = Service + ".poll" // private: the plugin's own
	FetchHistory        = Service + ".fetchHistory"
	SendFile            = Service + ".sendFile"
	GetFileLimits       = Service + ".getFileLimits"
	ListConversations   = Service + ".listConversations"
	SwitchConversation  = Service + ".switchConversation"
	MarkRead            = Service + ".markRead"
	Identify            = Service + ".identify"
	GetQueuePosition    = Service + ".getQueuePosition"
	DownloadFile        = Service + ".downloadFile"
	GetAvailability     = Service + ".getAvailability"
	StreamAttached      = Service + ".streamAttached"
	GetMediaRequests    = Service + ".getMediaRequests"
	AnswerMediaRequest  = Service + ".answerMediaRequest"
	OpenConversation    = Service + ".openConversation"
	UpdateContext       = Service + ".updateContext"
	LeaveMessage        = Service + ".leaveMessage"
	ListLeftMessages    = Service + ".listLeftMessages"
	RateChat            = Service + ".rateChat"
)

// Commands lists every command, in the order the plugin registers them.
func Commands() []string {
	return []string{
		StartChat, EndChat, SendMessage, SendCustomNotice, SendTyping, SendFilteredMessage, AddPrefilter,
		UpdateUserData, GetTranscript, GetAgents, GetStats, GetSessionData, VerifySession, Restore, StartPoll,
		StopPoll, ResetPollExceptions, Poll, FetchHistory, SendFile, GetFileLimits, ListConversations,
		SwitchConversation, MarkRead, Identify, GetQueuePosition, DownloadFile, GetAvailability, StreamAttached,
		GetMediaRequests, AnswerMediaRequest, OpenConversation, UpdateContext, LeaveMessage, ListLeftMessages,
		RateChat,
	}
}

// Local is a command's name within the plugin: "startChat" for StartChat.
func Local(command string) string { return strings.TrimPrefix(command, Service+".") }
