// Package store is cxgate's persistence: one bbolt file holding deployments,
// identities, chats, each chat's event log, token hashes and idempotency keys.
//
// # Bucket layout
//
// Keys are strings unless noted; values are JSON.
//
//	meta/        "schema" → uint64 big-endian version
//	deployments/ key → Deployment
//	identities/  identity id → Identity
//	chats/       chat id → Chat
//	open/        chat id → "" (chats not ended: what routing reloads at start)
//	events/      chat id/ (one nested bucket per chat)
//	                 uint64 big-endian seq → Event; the bucket's sequence is the chat's last seq
//	requests/    chat id "\x00" request id → uint64 seq of the first event it appended
//	                 (the next seq when it appended none), uint32 count
//	starts/      sha256(deployment "\x00" request id) → chat id
//	tokens/      sha256(token) → Token
//	identity_chats/ identity id "\x00" chat id → "" (an identity's conversations)
//
// meta also holds "sessionKey", 32 random bytes made with the file, which sign
// session data.
//
// Seqs start at 1 and have no gaps: a seq is taken inside the transaction that
// writes the event.
//
// # Writes
//
// Every write goes through one writer goroutine that drains all queued writes
// into a single transaction per fsync (group commit). A write is acknowledged
// only after its transaction committed. Then, still on the writer goroutine
// and so in commit order, the commit hook receives what was appended: live
// fan-out is ordered per chat without any further locking.
//
// # Reads
//
// Reads run in their own read-only transactions, concurrently with the writer.
// Returned values are copies; nothing refers to bbolt's memory.
//
// The store is safe for concurrent use.
package store
