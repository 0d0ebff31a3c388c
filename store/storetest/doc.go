// Package storetest is the conformance suite of the store's interfaces
// beyond the event log (which store/logtest checks): the directory, the
// outbox and its dead letters, the change feed that fills it, left
// messages, files and staged uploads, identities and tokens, and the sweeps
// and erasure that delete them. Both backends, bbolt (package store) and
// PostgreSQL (store/pgstore), run it, so that a behaviour is written down
// once and holds on either.
//
// A backend's test package calls [Run] with a [Backend]. What a backend does
// on purpose differently (how its files are laid out, several gateways on
// one database, which change rows ConsumeChanges consumes) stays in that
// backend's own tests, which use the helpers this package exports (Pump,
// MustList, Stage, LifecycleChat, ...) rather than copies of them. What
// only a backend's storage shows (its buckets or tables after a sweep, the
// chunks a discard leaves) is checked through [Backend]'s hooks.
package storetest
