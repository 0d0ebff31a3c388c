// Package cluster joins gateways that share one PostgreSQL store into a
// cluster over NATS. The store is the truth; NATS is the fast path that
// carries what each node committed to the others, so that every node
// delivers every chat's events to its own sockets and long-polls.
//
// # Delivery
//
// [Node.Follow] sits between the store's follower channel and the engine:
// it publishes each local batch on NATS, and hands the engine one stream of
// local and remote commits in which every chat's events come once, in seq
// order. A remote batch that skips seqs (a lost message, a peer that died
// before it published) is completed from the store first; events already
// delivered are dropped. Every few seconds it asks the store which chats
// grew beyond what it delivered and fetches the rest, so that a message NATS
// lost reaches the node's clients anyway (later, never out of order).
//
// # Presence, statuses, typing and the directory
//
// Each node announces the agents connected to it every couple of seconds;
// an agent is present while any fresh announcement names it. An agent's
// status change, a typing notice and a directory change are broadcast as
// they happen; none of them is the source of truth (statuses and the
// directory are in the store).
//
// # Goroutines
//
// Follow starts the merger, which ends when the local channel closes. Join
// starts the announcer, which ends with Close. NATS's own goroutines run the
// subscriptions' callbacks; they hand messages to the merger or call the
// callbacks given to the On* methods, which must not block.
package cluster
