// Package native serves cxgate's own wire, the one /widgets/cxbus.js and
// custom UIs speak (docs/wire.md): POST /v1/command, the long-poll
// GET /v1/events and the WebSocket GET /v1/ws; and GET /v1/availability,
// the proactive-trigger question, which needs no token.
//
// # Connections
//
// A socket is a wssession.Session, as the guest chat stream is: the fiber
// handler goroutine is the only reader; a writer goroutine runs only while
// something waits to be written (events of the socket's subscription, the
// resume from the feed, replies), so an idle socket is one goroutine; pings
// come from the transport's one ticker. Commands run on lanes, one at a time
// per lane: an agent's lane is the chat a command names, a visitor has one.
// The handler returns only after the writer and the lanes have ended,
// because the pooled websocket.Conn dies with the handler. A socket whose
// subscription falls behind is closed with 4409 and resumes from its last
// seq. Each command frame spends the same per-IP and per-token budgets as an
// HTTP request; a chat's visitor sockets are bounded (4429), and a text frame
// that is not UTF-8 closes the socket with 1007.
//
// # Delivery
//
// Every connection of a chat reads the same stream: first the feed after the
// client's seq, then live events; a live event past the next expected seq
// makes the connection read the feed again, so it never skips and never
// repeats a seq.
package native
