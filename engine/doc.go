// Package engine is the chat engine under the WebChatService and AgentService
// plugins (it is not a bus plugin itself): it starts, changes and ends chats through the store, keeps the
// in-memory view of open chats and agents that routing needs, assigns queued
// chats to agents, ends idle ones, and hands every committed or ephemeral
// event to its observers (the plugins), which turn them into bus events.
//
// The view holds the open chats that routing, sweeps and presence work on:
// every live chat, and the asynchronous conversations that are waiting, have
// an agent or an open thread. A dormant conversation (between threads, no
// agent) is only in the store until its next commit brings it back.
//
// # Presence
//
// An agent's chosen status is stored (Options.Statuses), so that a restart
// keeps it: an agent online before is online after, its presence grace
// counted from the start. An online agent without a connection for the grace
// turns away and its chats are queued again; [Engine.Stats] reads the view
// for the operators' gauges.
//
// # Capacity
//
// An agent is given a chat (routed, accepted, transferred to it) only with
// a seat reserved in the view first, so one engine never takes it beyond
// MaxChats. Engines sharing one log (a cluster's nodes) do not see each
// other's reservations: a log that is a [SeatedLog] refuses the write that
// would, and the engine answers ErrAtCapacity. The router then leaves that
// agent out until it looks again a second later, when its view has caught
// up with the chats that filled the seats.
//
// # Goroutines
//
// The engine owns three. The dispatcher (started by Load) follows the log's
// commits in commit order: it updates the view, runs the observers (the
// plugins' fan-out to the bus) and then answers the batch's writers; the
// store's writer runs none of this (it waits for it before its next
// transaction). The dispatcher ends when the log closes.
// The router, woken whenever a chat or an agent changes, and the idle
// sweeper stop when the context given to Run ends. Observers run on the
// dispatcher, in commit order, and must not block or wait for a store write.
//
// Nothing the engine submits to the log takes the engine's mutex inside the
// write: what a write needs is decided before it is submitted, or read from
// the chat record and atomics (an agent's presence for a routed assign).
//
// # Locks
//
// One mutex guards the view (chats, agents, queue). It is never held across a
// store call.
package engine
