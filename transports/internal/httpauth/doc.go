// Package httpauth holds the request checks every client-facing transport
// makes the same way: the bearer token of a request and the origin of the
// browser page that sent it.
package httpauth
