// Package netguard tells which network addresses the gateway must not
// connect to on behalf of configuration an admin controls (webhook URLs):
// loopback, private, link-local and other non-public ranges, where a
// request could reach the gateway's own host or its internal network.
//
// [Blocked] judges one address; [Control] applies it to every connection a
// net.Dialer makes, after name resolution, so a name that resolves (or is
// rebound) to an internal address is refused too; [LiteralHost] judges a
// URL's host without resolving it, for a clear answer when a URL is given.
package netguard
