// Command cxgate runs the chat gateway.
//
//	cxgate [--config FILE] [--addr 127.0.0.1:8080] [--data DIR] [--log text|json]
//	cxgate check [--config FILE] [--data DIR]
//
// check verifies the store file of a stopped gateway (or a backup) and lists
// what is wrong: exit 0 when it is sound (docs/backup.md). A subcommand is
// the first argument, dispatched in run to one function in its own file.
//
// With no config file it runs the demo setup and prints its tokens; its
// tokens are public, so it refuses an --addr off loopback. Flags override
// the file; an unknown --log format or a stray argument is a startup error.
// SIGINT or SIGTERM shut it down gracefully: sockets are closed, queued
// writes committed, the store closed.
//
//	cxgate compact [--data DIR]
//
// rewrites the store file without its free pages; the gateway must be
// stopped (docs/operations.md).
//
// The environment variable CXGATE_TEST_SWEEP_PAUSE (a Go duration) is for
// the kill test only: it pauses between the steps of a retention sweep so
// that the test can kill the process in the middle of one.
package main
