// Package wiretest is a test client of cxgate's native wire (docs/wire.md):
// commands over POST /v1/command, the long-poll GET /v1/events and the
// socket GET /v1/ws.
//
// [HTTP] sends commands and long-polls; [Socket] is a WebSocket client whose
// own goroutine reads every frame and sorts it into replies, events and
// pongs, so a test can wait for any of them with a timeout. Every helper
// takes a testing.TB, marks itself with t.Helper and fails the test on
// transport errors; rejections are returned, not failed on, so tests can
// assert them. Nothing here sleeps: waits are bounded by timeouts and end as
// soon as what they wait for arrives.
//
// It is only for tests: it imports nothing of cxgate.
package wiretest
