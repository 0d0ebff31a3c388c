// Package gms serves the Genesys GMS Chat API v2, the REST wire of the legacy
// Genesys Widgets WebChatService, under /genesys/2/chat/{serviceName}, where
// serviceName is the deployment key (docs/wire.md, "GMS Chat API v2").
//
// Every operation is a POST with a form body (application/x-www-form-urlencoded
// or multipart/form-data) and answers the GMS JSON envelope
// {statusCode, chatEnded, chatId, userId, secureKey, alias, messages,
// nextPosition} or, on failure, {statusCode, chatEnded, errors:[{code, advice}]};
// a file download answers the file's bytes.
// Each operation is one or two WebChatService commands on the bus; the
// transcript is the chat's event log, read with [bus.Bus.Feed]: a message's
// index and the transcriptPosition are the chat's seq.
//
// # Sessions
//
// secureKey is the chat token the native wire carries as a bearer token: it
// is resolved with [bus.Bus.Authenticate] and never logged. userId is the
// visitor's participant id and alias is the gateway's constant alias; a
// request whose three values do not match its chat is refused with code 401.
//
// The transport is a gateway.Wire: CORS and the rate limits (per IP, and per
// chat in place of per token) are the gateway's, and the gateway has every
// error under Prefix, a body too large or an unknown path included, written
// in the GMS envelope.
//
// # Typing
//
// Typing indicators are ephemeral, never stored, so a poller can only see
// those published while it polls. A chat that is requested or refreshed
// holds one bus subscription to each agent typing event (a burst of
// messages cannot overflow them), drained by each refresh and closed when the
// chat has not been refreshed for IdleWatch: the latest agent typing state
// published between two refreshes is answered once, as a TypingStarted or
// TypingStopped message. It has no place in the transcript, and the widget
// handles each index once per page, so its index is negative and new each
// time (typingIndex): the widget's transcript position ignores it.
//
// The transport is safe for concurrent use; it starts no goroutines.
package gms
