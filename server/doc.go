// Package server wires cxgate together from a configuration: the store, the
// bus, the plugins, the transports and the gateway, and stops them in
// reverse order. The command and the end-to-end tests both start gateways
// through it, so what the tests run is what ships. It also owns the
// operators' series that span parts (queues, agents, chat wait and first
// response, store size, build info) and the log of refused tokens.
package server
