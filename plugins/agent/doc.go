// Package agent is the AgentService bus plugin: the agent's and bot's side of
// chats. It authenticates agent and admin tokens, takes presence, acceptance,
// messages, typing and ending from agents, and turns the engine's events into
// AgentService events on each participating agent's topic.
//
// What an agent may read of a chat is one rule for every read (mayRead): the
// chats it is or was in, the waiting chats it could take, and every chat for
// a supervisor.
//
// # The agent stream
//
// An agent's events span many chats, so they get positions of their own: a
// per-agent ring of recent events, numbered from a random base of this
// process's, so that a position another process gave out (this node before
// a restart, another node of a cluster) is not one of its ring's. A resume
// the ring can no longer serve (too old, from another process) answers one
// AgentService.resync event carrying this stream's head: reload listChats
// and the transcripts after the seqs the client has. Stored chat history
// stays the truth, on every node.
//
// The stream also carries what is not about one chat: a message a visitor
// left while offline (AgentService.messageLeft) and its answer
// (AgentService.messageAnswered), to every human agent, and a visitor's
// session data as it browses (AgentService.contextUpdated {chatId, context}).
// Left messages are listed and answered with listMessages and answerMessage
// (messages.go).
//
// The waiting list is pushed too (queue.go): AgentService.chatQueued to the
// agents who could take a chat when it starts waiting, chatDequeued to the
// same agents when it stops. An agent's ended chats are listed and searched
// with listPastChats (past.go), over the store's per-agent index.
//
// Canned responses and internal notes (canned.go): listCannedResponses
// {chatId} gives the chat's deployment's list; sendMessage with internal:
// true stores an internal note, which, like a silent supervisor's whisper,
// agents see marked "internal" and visitors and webhooks never get.
//
// A visitor's rating of an ended chat reaches every agent who was in it as
// AgentService.chatRated, although they left it with its end; getTranscript
// and the chat descriptions carry it as rating.
//
// # Locks
//
// A stream's mutex is held while its event is published, so positions reach
// subscribers in order whichever goroutine publishes; the bus's own lock is
// taken inside it (stream → bus), never the reverse.
package agent
