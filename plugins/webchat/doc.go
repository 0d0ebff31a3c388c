// Package webchat is the WebChatService bus plugin: the visitor's side of a
// chat, with the commands, resolutions, rejection texts and events of the
// Genesys Widgets WebChatService reference. It authenticates visitor tokens,
// serves the visitor feed ("events of my chat after seq N") and turns the
// engine's committed events into WebChatService events on the chat's topic.
//
// # Identities
//
// Who a visitor is follows the deployment's identity mode: on an anonymous
// deployment only the gateway names visitors (new anonymous identities, or
// those its own signed identityToken and sessionData name), and a uuid or
// jwt from the page is refused; a signed deployment takes a company uuid
// only from an HS256 jwt naming the deployment in aud; unsigned-uuid takes
// the page's uuid as sent, an opt-in the gateway warns about. A start's
// requestId is a retry key, never a credential: its token is derived under
// the store's secret and handed out again only within chat.StartRetryWindow.
//
// Beside the reference's commands it serves proactive engagement
// (proactive.go): updateContext, the visit's session data for agents, and
// leaveMessage and listLeftMessages, the "leave a message" form of an offline
// item and its answer.
//
// After a live chat ends, rateChat (rating.go) takes the visitor's rating
// of it, once, with the ended chat's token while it still works; the engine
// stores it on the chat record and as a ChatRated event, which visitors are
// never pushed.
//
// Its command names, the options and results of its commands and its
// rejection codes are in the contract subpackage, which the wires import
// rather than the plugin; the plugin's handlers decode the contract's option
// types and answer its result types. Its rejections, the closed set, are in
// rejections.go.
//
// It never knows which wire a command came from.
package webchat
