// Package servertest starts real gateways for tests: the demo configuration
// (or a given one) on a real bbolt file in t.TempDir() and a real listener on
// 127.0.0.1:0, stopped by t.Cleanup.
package servertest
