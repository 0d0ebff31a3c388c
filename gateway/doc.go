// Package gateway is cxgate's fiber app: the routes of every transport, the
// middleware in front of them (CORS and origins, body and rate limits, request
// ids, panic recovery, the Content-Security-Policy and other security headers
// of every response, forwarded headers believed from trusted proxies only),
// health and readiness, static assets, and graceful shutdown. It holds no chat logic: handlers parse, make one bus call and
// render, and they live in the transports. A legacy wire (a [Wire]) lives
// under its own prefix, where the gateway applies the same middleware with
// the wire's CORS headers and rate key, and renders every error in the
// wire's shape.
//
// No request body is read before its route runs (fasthttp streams bodies):
// bodyGate reads ordinary bodies up to the body limit, and leaves an upload
// on the wire for its route to read as a stream once its token, the rate
// budgets and an upload slot (per IP and in all) were granted. Connections
// per peer address are bounded at accept. docs/limits.md states the
// worst-case memory this gives.
package gateway
