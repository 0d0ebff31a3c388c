// Package store is cxgate's persistence: one bbolt file holding deployments,
// identities, chats, each chat's event log, token hashes and idempotency keys.
//
// # Bucket layout
//
// Keys are strings unless noted; values are JSON.
//
//	meta/        "schema" → uint64 big-endian version
//	deployments/ deployment key → the deployment, as JSON (directory)
//	queues/      queue name → the queue, as JSON (directory)
//	agents/      agent id → the agent, as JSON, with its tokenHash and never its token (directory)
//	webhooks/    webhook id → the webhook, as JSON (directory)
//	identities/  identity id → Identity
//	chats/       chat id → Chat
//	open/        chat id → "" (chats not ended: what routing reloads at start)
//	log/         chat id ‖ 0x00 ‖ uint64 big-endian seq → Event (every chat's events, each
//	                 chat's contiguous and in seq order; the newest one's seq is the chat's
//	                 last seq)
//	starts/      sha256(deployment "\x00" request id) → chat id
//	tokens/      sha256(token) → Token
//	identity_chats/ identity id "\x00" chat id → "" (an identity's conversations)
//	outbox/      uint64 big-endian delivery id → OutboxEntry (webhook deliveries not yet
//	                 made); the bucket's sequence hands out the ids
//	outbox_due/  uint16 big-endian len(subscription) ‖ subscription ‖ uint64 big-endian
//	                 nextAt (unix ms) ‖ uint64 big-endian delivery id → "" (the outbox in due
//	                 order per subscription: a long backlog of one is passed over in a seek)
//	dead/        uint64 big-endian delivery id → OutboxEntry (deliveries given up on)
//	files/       file id → File (a file of a chat: its chat id, name, type detected
//	                 from the content, size, author, and the seq of its FileUploaded event)
//	file_data/   file id ‖ 0x00 ‖ uint32 big-endian chunk number → a chunk of the file's
//	                 content, raw bytes: FileChunk (64 KiB) each but the last, which may be
//	                 empty, so a reader finds the chunk of any offset and a download reads
//	                 one chunk per read transaction. A file written before chunks keeps its
//	                 whole content under its bare id, read the same way.
//	file_staged/ file id → uint64 big-endian creation time (unix ms): an upload's content
//	                 being written, a chunk per transaction, under file_data's keys of
//	                 the file it is to become (StagedFile). The transaction that writes
//	                 the file record and its FileUploaded event deletes the entry and so
//	                 adopts the chunks (AddStagedFile); an upload refused, replayed or
//	                 broken off deletes entry and chunks (Discard). Open deletes every
//	                 staged file (no upload outlives the process: a crash leaves nothing
//	                 behind) and the retention pass deletes those older than StagedTTL
//	                 (SweepStaged). A file_data key whose id is in neither files nor
//	                 file_staged is never written.
//	left_messages/ message id → LeftMessage (a visitor's "leave a message" form and
//	                 its answer)
//	left_open/   uint64 big-endian createdAt (unix ms) ‖ message id → "" (messages not
//	                 answered yet, oldest first)
//	left_answered/ uint64 big-endian answeredAt (unix ms) ‖ message id → "" (answered ones)
//	identity_left/ identity id "\x00" message id → "" (the messages an identity left)
//	chat_refs/   chat id ‖ 0x00 ‖ 't' ‖ uint64 big-endian createdAt ‖ sha256(token) → ""
//	             chat id ‖ 0x00 ‖ 's' ‖ starts key → "" (what else names a chat: its
//	                 tokens, oldest first, and its start key; built from tokens and
//	                 starts when the bucket is missing)
//	purge/       chat id → "" (a deleted chat whose events are still being deleted)
//	change_feed/ uint64 big-endian feed id → Change (a write's chat and appended seqs,
//	                 in commit order, until the webhooks service consumed it)
//
// meta also holds "sessionKey", 32 random bytes made with the file, which sign
// session data.
//
// The four directory buckets hold what the admin API manages. Their values
// are written by plugins/admin in the config file's field names (config types
// as JSON) and kept as given: the store neither reads nor checks them. An
// empty directory is seeded from the config file at the first start.
//
// Webhook deliveries follow the change feed (change_feed/, on while any
// webhook is configured: [Store.SetChangeFeed]): every write that appends
// events also writes, in its own transaction, a row naming the chat (as
// committed) and the seqs it appended. The webhooks service reads the rows
// ([Store.Changes]), encodes the payloads off the writer, and in one
// transaction writes the outbox entries and deletes the rows
// ([Store.ConsumeChanges]): a crash in between leaves the rows to be read
// again, so an acknowledged event is delivered at least once. An entry keeps
// its id when it goes dead and when it is retried. Dead entries stay until
// they are retried or [Store.PruneDead] deletes them. The numbers of pending
// and dead entries are counted once at Open and then kept by the writer as
// its transactions commit, so [Store.OutboxDepth] reads no bucket.
//
// A file is written by [Store.AddFile] in the transaction that appends the
// FileUploaded event announcing it, so a client never sees the event of a
// file that is not there, nor a file without its event. The chat's record
// counts its files (Chat.Files), which bounds uploads per chat. Files are
// kept as long as their chat, or until the files retention deletes their
// content (File.Expired is then set, the record stays).
//
// # Retention and erasure
//
// [Store.SweepChats], [Store.ExpireFiles] and [Store.EraseIdentity]
// (sweep.go) delete chats whole: record, open and identity_chats entries,
// tokens and start keys (found through chat_refs), files, and events, in
// one write. A write deletes at most purgeBudget events; a longer chat
// loses everything else in that write and keeps its remaining events under
// a purge marker until later sweep steps delete them: from the first write
// on it is gone for every reader, since every read looks up the chat's
// record first. The writer's chat cache forgets a deleted chat when its
// transaction commits.
//
// A left message is written by [Store.LeaveMessage] with its webhook
// deliveries and, for a new visitor, its identity, in one transaction;
// [Store.AnswerMessage] moves it from left_open to left_answered with the
// deliveries of its answer. The plugins bound their size and rate before
// writing. [Store.EraseIdentity] deletes an identity's messages with their
// index entries and webhook deliveries; [Store.SweepLeftMessages] deletes
// those whose answer, or creation while unanswered, is older than the
// deployment's chats retention. An identity is kept while it has a chat or
// a message (identity_chats, identity_left), and the sweeps delete it with
// the last of them.
//
// Open migrates older files in its first transaction: schema 1 keyed
// outbox_due by due time alone; schema 2 kept one nested bucket of events per
// chat and a requests bucket.
//
// Seqs start at 1 and have no gaps: a seq is taken inside the transaction that
// writes the event.
//
// # One log, and request ids without a bucket
//
// All chats' events share the log bucket so that an append dirties one page,
// its chat's newest: with a nested bucket per chat, each append also dirtied
// the bucket's branch page and the page of the parent holding its header,
// and a requests bucket keyed by chat and request id a fourth page. A commit
// of ~23 messages to as many chats wrote ~99 pages before and ~44 after; the
// durable HTTP send rate rose by a quarter.
//
// Retries are recognized from the events themselves: every event a request
// appends carries its request id. The writer remembers the request ids of
// each chat's newest 64 events (read from the log the first time a chat is
// written with a request id, then kept as it writes), so a retry made within
// the chat's next 64 events is answered with the first attempt's events, also
// after a restart. A request that appended nothing is remembered only until
// the writer forgets the chat or the process ends.
//
// # Writes
//
// Every write goes through one writer goroutine that drains all queued writes
// into a single transaction per fsync (group commit). A write is acknowledged
// only after its transaction committed. Without a follower it is answered at
// once; with one ([Store.Follow]: the engine) the committed batch is handed
// to the follower, in commit order, and its writes are answered when the
// follower calls [model.Batch.Done]. The writer runs none of the follower's
// work, but waits for it before its next transaction: overlapping the two
// was measured slower on two cores (see Follow).
//
// # Reads
//
// Reads run in their own read-only transactions, concurrently with the writer.
// Returned values are copies; nothing refers to bbolt's memory.
//
// # Damage, check and backup
//
// bbolt trusts the file it maps: a damaged page makes it panic (some of
// those panics happen in goroutines of its own, where nothing can recover
// them) and a truncated file makes it fault. So Open first walks the file
// with [CheckFile], which reads it without mapping it (meta pages, the file's
// length against the meta's page count, every page the trees reach) and
// answers a [DamagedError] naming the file; bbolt's Open runs only on a file
// that passed, under a recover. [Verify] adds bbolt's own check, for
// `cxgate check`. [Store.Backup] writes a consistent copy from one read
// transaction (docs/backup.md).
//
// The store is safe for concurrent use.
package store
