// Package webchat is the WebChatService bus plugin: the visitor's side of a
// chat, with the commands, resolutions, rejection texts and events of the
// Genesys Widgets WebChatService reference. It authenticates visitor tokens,
// serves the visitor feed ("events of my chat after seq N") and turns the
// engine's committed events into WebChatService events on the chat's topic.
//
// Beside the reference's commands it serves proactive engagement
// (proactive.go): updateContext, the visit's session data for agents, and
// leaveMessage and listLeftMessages, the "leave a message" form of an offline
// item and its answer.
//
// It never knows which wire a command came from.
package webchat
