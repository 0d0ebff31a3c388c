// Package faqbot is cxgate's reference bot: an agent of kind bot that works
// the way RingCX bots do. It is notified by webhook of a new thread, fetches
// the conversation, accepts the chat (which opens its intervention), answers
// frequently asked questions, and hands the chat to a human queue when the
// visitor asks for a person, or resolves it when the visitor is done.
//
// It talks to the gateway only over the public surfaces: signed webhooks in,
// the native wire (POST /v1/command with its agent token) out. A webhook is
// answered 2xx once handled, and 5xx when the gateway could not be reached,
// so the gateway's outbox retries it; deliveries are de-duplicated by id.
package faqbot
