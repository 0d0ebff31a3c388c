// Package config reads cxgate's YAML configuration, applies defaults and
// validates it, so that a bad file fails at startup with a message that names
// the key path, its line and the form it accepts; the check walks the YAML
// tree against the Config struct's yaml tags, so every key gets it. With no
// file, [Demo] is the demo setup.
//
// It lives apart from the gateway because plugins read it too, and plugins
// never import the gateway.
package config
