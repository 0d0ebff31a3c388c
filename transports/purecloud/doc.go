// Package purecloud serves Genesys Cloud guest chat v2 (the widget's
// "purecloud-v2-sockets" transport) under /api/v2/webchat/guest: REST calls
// to create a conversation, send messages and typing, leave, and read
// messages and members, plus the conversation's event stream socket. It maps
// them onto WebChatService commands and events on the bus, as the native wire
// does; the deploymentId is the deployment key and the routing target's
// address a queue name. docs/wire.md describes the wire.
//
// # Tokens
//
// The "jwt" of a conversation is the chat's visitor token, opaque to the
// client: the widget only sends it back as "Authorization: Bearer <jwt>" and
// never decodes it. The eventStreamUri carries it in its query, since a
// browser WebSocket cannot send headers.
//
// The transport is a gateway.Wire: request ids, CORS and the rate limits (per
// IP, and per jwt) are the gateway's, and the gateway has every error under
// Prefix, a body too large or an unknown path included, written in Genesys'
// error shape.
//
// # Ids
//
// A conversation's id is the chat id. A member's id is the participant id:
// the visitor's identity for the guest, the agent id for agents. A message's
// id is its seq in the chat's event log, in decimal, so ids of one
// conversation sort by time.
//
// # Event stream
//
// The socket carries server frames only: a heartbeat on connect and every
// Config.Heartbeat, and the chat's events from the moment it connected. It
// resumes nothing: after a reconnect a client reads what it missed with
// GET .../messages?after=<last message id>, following "next".
//
// A stream is a wssession.Session, as the native socket is: the handler
// goroutine only reads (control frames and the end); a writer goroutine runs
// only while a frame waits (an event, or the heartbeat the transport's one
// ticker queues on every stream), and the handler returns only after it has
// ended, because the pooled websocket.Conn dies with the handler. An idle
// stream is one goroutine.
package purecloud
