// Package lifecycle owns what happens to visitors' data over time: the
// retention sweep, the erasure of a visitor on request, and the export of
// everything kept about one. It is the DataService bus plugin.
//
// # Retention
//
// [Service.Run] sweeps at start and then every Options.Interval (default
// 10 minutes). A pass walks every chat and every file in small steps, each
// step one short write through the store's writer (see
// [store.Store.SweepChats]): ended chats, and async conversations nobody is
// in, whose last event is older than their deployment's retention.chats are
// deleted whole with their events, files, tokens, start keys and index
// entries (and their identity once it has no chat left); file content older
// than retention.files is deleted and its download answers file_expired
// (410); visitor tokens of chats that ended longer ago than the
// deployment's restoreTimeout, and a chat's tokens beyond its newest 16
// (superseded by later restores), are deleted; left messages ("leave a
// message" forms, see [store.Store.SweepLeftMessages]) whose answer, or
// creation while unanswered, is older than retention.chats are deleted with
// their index entries (and their identity once it has neither a chat nor a
// message left). What a pass deleted is
// logged and counted ([Service.Stats]: cxgate_retention_deleted_total).
// A crash between steps loses nothing: each chat goes in one write, and a
// chat too long for one write has its record and references deleted first
// and the rest of its events under a purge marker that the next step
// resumes.
//
// # Commands (admin callers only)
//
//	DataService.eraseIdentity  {identityId} or {chatId}  → {identityId, erased, chatIds, deleted}
//	DataService.exportIdentity {identityId}              → the export document
//
// eraseIdentity ends the identity's open chats first (agents receive
// chatEnded, as for any end), then deletes every chat of it, their events,
// files and tokens, every message it left, the webhook deliveries (pending
// and dead) of those chats and messages, and the identity record, in one
// write, and queues the identity.erased webhook in that same
// write. deleted counts what went. An identity with nothing left is
// not_found (404), so a second call is a 404.
//
// exportIdentity answers one JSON document: the identity, the messages it
// left (with their answers and visit context), each of its chats with its
// whole transcript (internal events included, flagged) and its files'
// descriptions, each with a download link signed for
// Options.LinkTTL (default 15 minutes) that needs no token:
//
//	DataService.downloadFile {fileId, expires, sig}   (anyone: the signature is the authority)
//
// served as GET /v1/files/{fileId}?expires=…&sig=… by the native transport.
//
// The Service is safe for concurrent use.
package lifecycle
