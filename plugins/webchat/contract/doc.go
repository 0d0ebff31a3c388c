// Package contract is the typed contract between the WebChatService plugin
// (plugins/webchat) and the wires that speak for visitors (transports/native,
// gms and purecloud): the names of the commands the plugin registers, and the
// options and results of those commands, with the transcript message they
// carry.
//
// It owns nothing but these shapes and depends on the standard library
// alone, so a wire can import it without importing the plugin, and the
// plugin cannot drift from what the wires read: both compile against the
// same structs. The JSON tags are the wire's: a struct here encodes to the
// exact bytes clients have always received (fields are declared in the
// order the answers list them), so changing one changes every wire.
//
// Options reach the plugin as JSON, because the bus carries the client's
// JSON to the plugin as it arrived and its before-hooks (rate and byte
// budgets) weigh that JSON; results leave the plugin as these types, which
// an in-process wire takes as they are (Result) rather than encoding and
// decoding them again.
package contract
