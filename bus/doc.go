// Package bus is cxgate's command/event bus, modelled on CXBus.
//
// Plugins register under a name ("WebChatService") and register commands and
// events. A command resolves with data or rejects with a *Rejection carrying a
// stable code, the documented human message and an HTTP class. Subscribers
// receive events by full name ("WebChatService.messageReceived"), by plugin
// wildcard ("WebChatService.*") or all ("*"), optionally narrowed to one
// topic: the stream of one chat ("chat/<id>") or of one agent ("agent/<id>").
//
// # Lifecycle
//
// Everything is registered before [Bus.Start]; afterwards the registry is
// read-only and dispatch takes no lock. Subscriptions may come and go at any
// time.
//
// # Delivery
//
// [Bus.Publish] never blocks. Each subscription owns a bounded channel; a
// subscriber that falls behind is dropped, its channel closed and
// [Subscription.Err] set to [ErrSlowSubscriber]. It resumes from its last seq
// through [Bus.Feed], which reads the store: pushes are an optimisation, the
// log is the truth.
//
// The bus knows nothing of HTTP or of the store. It is safe for concurrent use.
package bus
