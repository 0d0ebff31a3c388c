// Package logtest is the conformance suite of the event log: what any
// backend that stores chats and their events must do, whatever it is built
// on. The bbolt store runs it (store/conformance_test.go); a clustered
// backend runs the same suite.
//
// The suite checks the log's promises through its interface alone:
// contiguous seqs from 1 under concurrent appends to one chat and to many,
// the chat record changed in the same transaction as the events appended,
// request-id idempotency (also across a restart), reads that are consistent
// while writes go on, pages after and before a seq, and — in a child process
// killed with SIGKILL while it appends — nothing acknowledged lost, and no
// gap, at the reopen.
//
// A backend's test package calls [Run] from a test and [RunChild] first thing
// in its TestMain: the kill test runs the test binary itself as the child.
package logtest
