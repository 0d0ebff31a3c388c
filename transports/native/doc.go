// Package native serves cxgate's own wire, the one /widgets/cxbus.js and
// custom UIs speak (docs/wire.md): POST /v1/command, the long-poll
// GET /v1/events and the WebSocket GET /v1/ws; and GET /v1/availability,
// the proactive-trigger question, which needs no token.
//
// # Connections
//
// A socket is two goroutines: the fiber handler goroutine is the only reader
// and runs commands; one writer goroutine is the only caller of write methods
// and owns the bus subscription, the resume from the feed and the pings. The
// handler returns only after the writer has exited, because the pooled
// websocket.Conn dies with the handler. A socket whose subscription falls
// behind is closed with 4409 and resumes from its last seq. Each command
// frame spends the same per-IP and per-token budgets as an HTTP request; a
// chat's visitor sockets are bounded (4429), and a text frame that is not
// UTF-8 closes the socket with 1007.
//
// # Delivery
//
// Every connection of a chat reads the same stream: first the feed after the
// client's seq, then live events; a live event past the next expected seq
// makes the connection read the feed again, so it never skips and never
// repeats a seq.
package native
