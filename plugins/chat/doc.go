// Package chat is the chat engine under the WebChatService and AgentService
// plugins: it starts, changes and ends chats through the store, keeps the
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
// # Goroutines
//
// The engine owns two: the router, woken whenever a chat or an agent changes,
// and the idle sweeper. Both stop when the context given to Run ends. Observers
// run on the store's writer goroutine, in commit order, and must not block.
//
// # Locks
//
// One mutex guards the view (chats, agents, queue). It is never held across a
// store call.
package chat
