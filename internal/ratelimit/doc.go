// Package ratelimit owns the gateway's request budgets: fixed windows of
// counts per key (a client IP, a token, a chat), shared by every wire that
// spends them, HTTP and sockets alike, so that a client cannot escape a
// budget by changing how it connects.
package ratelimit
