// Command cxgate-nats is a NATS server for a cxgate cluster on one machine
// (make cluster), so no NATS package need be installed: the server of the
// nats-server module, listening on one address, logging to stderr, stopping
// cleanly on SIGINT or SIGTERM.
//
//	cxgate-nats [-addr 127.0.0.1:4222] [-store-dir DIR]
//
// -store-dir turns JetStream on with its files in DIR; without it the
// server keeps nothing on disk. A production cluster runs a NATS server
// (or cluster of them) of its own instead.
package main
