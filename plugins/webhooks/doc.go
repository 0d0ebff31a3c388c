// Package webhooks tells other systems what happens in chats: it POSTs signed
// JSON events to the URLs of the configured webhook subscriptions, from a
// durable outbox, and is the WebhookService bus plugin through which admins
// list and retry deliveries.
//
// # Events
//
// chat.started, thread.created, message.created, chat.transferred,
// chat.ended and chat.resolved (see [Events]), each mapped from the events a
// chat's log stores; message.left and message.answered (a [MessagePayload],
// id "<messageId>:<event>") from the messages visitors leave while offline,
// written with the message by [Service.MessageOutbox]. A subscription receives the events it lists, or all of
// them when its list is empty. Every event has a stable id,
// "<chatId>:<seq>:<event>", the same on every attempt and for every
// subscription: receivers de-duplicate on it. One event is not a chat's:
// identity.erased ([ErasedPayload], id "identity:<identityId>:erased") says
// that an admin erased a visitor and every chat of it.
//
// # The outbox
//
// While any webhook is configured the store keeps a change feed: the
// transaction that appends a chat's events also writes a row naming them.
// [Service.Run] reads the rows, turns them into one outbox entry per
// (subscription, event) — the payloads are encoded here, never on the
// store's writer — and writes the entries and deletes the rows in one
// transaction. A crash in between leaves the rows to be read again, so an
// acknowledged event is delivered at least once. Nothing is lost when the
// gateway stops: feed and outbox are in the store, and Run resumes them at
// start.
//
// # Delivery
//
// [Service.Run] is one goroutine that reads the due entries and hands them to
// at most Options.Concurrency request goroutines (default 8), and at most
// Options.PerWebhook (default 2) for any one subscription: a receiver that
// hangs holds that many requests, each until Options.Timeout, and the other
// subscriptions' deliveries go on meanwhile, however long its backlog (the
// store reads the due entries of each subscription apart, and skips those
// at their limit). Run is woken after every commit that wrote feed rows, when
// a request ends, and by a timer for the next due one. No request runs
// inside a transaction. The URL and the secret are read from the
// configuration in force when a request is sent, by subscription id. A 2xx
// answer deletes the entry; anything else is a failed attempt, retried after
// an exponential backoff with jitter (Options.BaseBackoff doubling up to
// Options.MaxBackoff) until Options.MaxAttempts, when the entry goes to the
// dead letters. Delivery is at least once and in no guaranteed order.
//
// Dead letters stay until an admin retries them or they are pruned: at start
// and every hour, Run deletes those that went dead more than
// Options.DeadRetention ago (default 7 days), then the oldest beyond
// Options.MaxDead (default 10,000).
//
// # Destinations
//
// Unless the configuration says allowPrivateWebhooks, the default client
// connects to no loopback, private or link-local address: config validation
// refuses such URLs given literally, and every connection is checked on its
// resolved address (internal/netguard), so a name that resolves or is
// rebound inside is refused too. A failed attempt without an HTTP answer is
// recorded as "no HTTP answer" (or "refused: …" for such a destination); the
// dial error itself goes to the log only, so that the admin API does not
// tell a closed port from a filtered one.
//
// # Signatures
//
// Every request carries X-Cxgate-Timestamp (unix seconds) and
// X-Cxgate-Signature: "t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>".
// [Verify] checks both for a receiver: a changed body or a timestamp outside
// the tolerance fails, so a captured request cannot be replayed later.
//
// The Service is safe for concurrent use.
package webhooks
