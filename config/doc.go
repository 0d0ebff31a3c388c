// Package config reads cxgate's YAML configuration, applies defaults and
// validates it, so that a bad file fails at startup with a message that names
// the key. With no file, [Demo] is the demo setup.
//
// It lives apart from the gateway because plugins read it too, and plugins
// never import the gateway.
package config
