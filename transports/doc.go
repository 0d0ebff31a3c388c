// Package transports holds cxgate's client-facing wire adapters, one
// subpackage per wire: native (JSON over HTTP, long-poll and WebSocket), and
// the legacy Genesys wires. A transport turns its wire into bus commands and
// bus events into its wire; it never touches the store and holds no chat
// state beyond its connections.
package transports
