// Package filerej turns the engine's file sentinels (engine/errors.go: files
// off, no file, too large, type not allowed, limit reached, not found,
// expired) into the rejections clients see, with their stable codes (in
// plugins/webchat/contract, as the wires switch on them), HTTP
// statuses and texts. It is shared by the plugins that take or serve files
// (WebChatService, AgentService, the lifecycle's export links), so one case
// has one code and one text whichever command meets it.
package filerej
