// Package pgstore is the store on PostgreSQL: chats and their events in a
// database several gateways share, behind the same promises as the bbolt
// store (the store/logtest conformance suite), with the records beside the
// log: identities, visitor tokens, files (and uploads being staged), agent
// statuses, the session key, the open chats and each agent's past chats. It
// owns its tables, their schema version and the transactions that keep
// every chat's seqs contiguous. It also holds the directory, the webhook
// outbox and dead letters, the change feed and left messages, and sweeps
// and erases by retention and on request.
//
// # Schema
//
// Open creates the tables and migrates them to this binary's version, in
// one transaction under an advisory lock, so gateways starting together
// migrate once; a database newer than the binary is refused. The tables
// live in the first schema of the connection's search_path (a URL
// parameter: "?search_path=cxgate").
//
//	cxgate_schema  version: the number of migrations applied
//	chats          id, deployment, start_key (the client's request id of an
//	                   idempotent start, unique per deployment), last_seq, record
//	                   (the model.Chat as JSON)
//	events         chat_id, seq (primary key together), request_id (the Mutate
//	                   that appended it; indexed per chat), body (the model.Event
//	                   as JSON)
//
// Beside the log (schema_records.go):
//
//	chats          also open (the chat has not ended: OpenChats) and
//	                   identity_id (the visitor's identity, written by
//	                   CreateChat: ChatsOfIdentity)
//	agent_chats    agent_id, ended_at, chat_id: an agent's past chats, a row
//	                   per participant written when a chat ends, deleted with
//	                   the chat (PastChats)
//	identities     id, record (the model.Identity as JSON)
//	tokens         hash (of a visitor token; the token is never stored),
//	                   chat_id, record (the model.Token as JSON); deleted with
//	                   the chat
//	files          id, chat_id, record (the model.File as JSON, with its size,
//	                   seq and Expired); deleted with the chat
//	file_chunks    file_id, n, data: the content of a file or of a staged
//	                   file in chunks of FileChunk bytes (the last one shorter,
//	                   possibly empty). Deleting a files row deletes its chunks
//	                   (trigger); deleting a staged file deletes them
//	                   explicitly
//	staged_files   id, created_at (unix ms): content being uploaded, in
//	                   file_chunks under the id the file will have; the
//	                   transaction that inserts the files row deletes this one
//	agent_statuses agent_id, status
//	settings       name, value: "session_key", 32 random bytes made by the
//	                   first Open of the database
//
// The directory, webhook deliveries and left messages (schema_directory.go):
//
//	directory      kind (deployments, queues, agents, webhooks), id, value
//	                   (the admin API's JSON, kept as given)
//	outbox         id (the delivery's, kept when it dies and is retried),
//	                   dead (pending or a dead letter), subscription, next_at,
//	                   dead_at, chat_id or message_id (what it announces, so an
//	                   erasure finds it; neither for an erasure's notice),
//	                   entry (the model.OutboxEntry as JSON); indexed by
//	                   subscription and due time among the pending ones
//	change_feed    id (write order), chat_id, change (the model.Change as
//	                   JSON): a row per write that appended events while the
//	                   feed is on, in that write's transaction
//	left_messages  id, deployment, identity_id, created_at, answered_at (null
//	                   while open), record (the model.LeftMessage as JSON);
//	                   indexed open by creation, answered by answer, and by
//	                   identity
//
// Beside the chats (schema_seats.go):
//
//	seats          agent_id, chat_id: an agent sitting in an open chat (a
//	                   connected participant, not a supervisor), rewritten
//	                   with the chat's record when that changes, deleted with
//	                   the chat (MutateSeated)
//
// Records and events are bytea holding the model's JSON as encoded, not
// jsonb: jsonb refuses a string holding \u0000 (a visitor may send one) and
// rewrites the raw JSON the model carries (userData, event data).
//
// # Order, idempotency and group commit
//
// A chat's row is its lock: the transaction that appends to a chat holds
// its row FOR UPDATE, so each append follows the last_seq its predecessor
// committed. Events commit with the record in one transaction, so a reader
// sees a prefix of the log. A retried request id is found from the events
// it appended (request_id), also when the first attempt went through
// another gateway; a request that appended no events leaves nothing to
// find, and its retry runs again.
//
// Mutates are group-committed: one writer goroutine per Store takes the
// Mutates waiting, locks their chats' rows in one statement in id order
// (gateways' writers never wait on each other in a circle), applies them in
// arrival order in memory, writes every record and event in two statements
// and commits; each Mutate returns after that commit. A deadlock or
// serialization failure runs the batch again (MutateFunc may run more than
// once); after any other failure each Mutate of the batch runs alone, so
// one the database refuses fails by itself. CreateChat is a
// transaction of its own: starts are rare beside appends, and a start
// racing another on its key needs the insert's unique index; it writes the
// chat's identity and visitor token with it.
//
// The statement that writes a batch's records also keeps chats.open and
// lists the chats that ended among their agents' past chats (agent_chats),
// so a batch is still two statements, three or four when it holds files,
// one more while the change feed is on, two more when it changes who sits
// in a chat (seats).
//
// # Seats
//
// Several engines may give chats to one agent at once (nodes accepting
// while the leader routes, two leaders overlapping at a change), each
// within the agent's capacity in its own view. MutateSeated is the store's
// check over all of them: a Mutate that fails with model.ErrNoSeat when
// after fn the agent would sit in more open chats than its capacity. It
// runs through the writer alone in its transaction (seated writes are
// assignments, rare beside appends) and, after the chat's row lock, takes
// a transaction-scoped advisory lock of the agent, then counts its seats
// rows: a seated write of another gateway for that agent committed before
// the lock was granted, so the count sees it. One agent lock per
// transaction, always after the row locks: no cycle.
//
// # Files
//
// AddFile and AddStagedFile are Mutates carrying a file: they go through
// the writer, so the file's FileUploaded event takes the chat's next seq
// like any append and the file row commits with it. The batch locks the
// staged rows it adopts (after the chats' rows, in id order) and checks the
// file ids it writes are new. A file's content is in file_chunks, 64 KiB a
// row: a staged upload writes a chunk per statement as it arrives and is
// adopted by the batch deleting its staged_files row, without copying; a
// FileReader reads a chunk per query, so neither an upload nor a download
// holds more than a chunk. Staged content an upload left behind is deleted
// by SweepStaged once older than StagedTTL; Open deletes none, since other
// gateways may be uploading.
//
// Identities, tokens, agent statuses and the session key are single
// statements on the pool, outside the writer: they touch no chat's seqs.
// The session key is made by the first Open of a database (an insert that
// does nothing when another Open's came first) and read by every one.
//
// # Change feed, outbox and lifecycle
//
// While SetChangeFeed is on, the writer writes the change rows of a batch
// in one more statement of its transaction, and CreateChat in its own, so
// a write's acknowledgement means its deliveries will be made. Row ids are
// taken in write order, which is not quite commit order: ConsumeChanges
// deletes the rows Changes returned, not every id below the last, so a row
// that commits late is read next time instead of being lost. A gateway
// pokes its ChangeFeedSignal after its own commits that wrote rows, and
// every second while its feed is on, for the rows of other gateways.
//
// Retention and erasure delete a chat by deleting its row: events, tokens,
// files, their chunks and past-chat rows go with it by their foreign keys
// (and files' trigger), so it is whole or gone for every reader. Each sweep
// step reads up to scan rows in one snapshot, then deletes in one short
// transaction those still expired under their rows' locks. An erasure
// deletes the identity's row first, so a LeaveMessage for it (which holds
// that row FOR SHARE) either commits before and is erased, or finds the
// identity gone; the feed's consumer holds the chats of the rows it
// consumes FOR SHARE and writes no delivery for one erased meanwhile.
package pgstore
