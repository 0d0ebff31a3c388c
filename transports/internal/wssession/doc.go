// Package wssession owns what every server-side WebSocket of the gateway
// shares, whatever its wire: the native socket (GET /v1/ws) and the Genesys
// Cloud guest chat event stream. A wire keeps its frames and its handshake;
// this package owns the connection's life around them.
//
// # Goroutines
//
// A Session is one socket. The wire's handler goroutine is its only reader.
// Its writes belong to one writer goroutine at a time, which runs only while
// there is something to send: an event on the socket's subscription, a
// queued reply or heartbeat frame. Kick starts one unless one is running, so
// an idle socket costs one goroutine (the reader), not two. Commands run on
// lane goroutines that exist only while a command is waiting or running
// (Dispatch): commands of one lane run in order, lanes side by side, at most
// 256 commands in flight per socket, past which the reader stops reading.
//
// A Hub owns a wire's sessions: it counts them, pings them all from one
// ticker goroutine (one per hub, not one per socket), queues the wire's
// heartbeat frame on each at every tick, and on Close says goodbye to every
// socket with 1001 and waits for their handlers. The handler returns only
// after the writer and the lanes have ended (Leave), because the pooled
// websocket.Conn dies with the handler.
//
// # Close codes
//
// 1001 the server is shutting down (or the subscription ended), 1007 a text
// frame that is not UTF-8 (RFC 6455 §8.1), 1011 the wire failed, 4409 the
// socket's subscription fell behind (a slow consumer: its bounded queue
// overflowed), 4413 a frame past the wire's limit, 4429 the chat has as many
// sockets open as it may. A socket silent for two heartbeats and 5 s (no
// pong, no frame) is dead: its read ends.
package wssession
