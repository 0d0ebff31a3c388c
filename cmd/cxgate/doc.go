// Command cxgate runs the chat gateway.
//
//	cxgate [--config FILE] [--addr :8080] [--data DIR]
//
// With no config file it runs the demo setup and prints its tokens. Flags
// override the file. SIGINT or SIGTERM shut it down gracefully: sockets are
// closed, queued writes committed, the store closed.
package main
