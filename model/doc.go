// Package model is cxgate's domain model: chats, their events and parties,
// visitors' identities, files, left messages and webhook deliveries, with
// the named types of their enumerations. It has no dependencies beyond the
// standard library: the store, the engine, the plugins and the wires all
// speak it, and none of them owns it.
package model
