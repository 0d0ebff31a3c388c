package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CannedResponse is a reply an agent inserts instead of typing it: in the
// console, "/" and the shortcut in the composer.
//
//	cannedResponses:
//	  - {shortcut: greet, text: "Hello, how can I help?"}
//
// Each deployment has its own list; agents see the lists of the deployments
// of their chats (AgentService.listCannedResponses).
type CannedResponse struct {
	Shortcut string `yaml:"shortcut" json:"shortcut"`
	Text     string `yaml:"text" json:"text"`
}

// Bounds of a deployment's canned responses: enough for a real team's
// library, small enough to send to every agent's console at once.
const (
	MaxCannedResponses = 200
	MaxShortcutChars   = 32
)

// validateCanned checks d's canned responses at key at: shortcuts are
// unique (case-insensitively: agents type them) words of letters, digits, -
// and _; texts are not blank and fit in one message of messageChars.
func (d *Deployment) validateCanned(at string, messageChars int, bad func(format string, args ...any)) {
	if len(d.CannedResponses) > MaxCannedResponses {
		bad("%s.cannedResponses: %d entries, at most %d", at, len(d.CannedResponses), MaxCannedResponses)
		return
	}
	seen := map[string]int{}
	for i, r := range d.CannedResponses {
		key := fmt.Sprintf("%s.cannedResponses[%d]", at, i)
		switch {
		case r.Shortcut == "":
			bad("%s.shortcut: required", key)
		case len(r.Shortcut) > MaxShortcutChars || !validID(r.Shortcut):
			bad("%s.shortcut: %q is not a shortcut (letters, digits, - and _, at most %d)", key, r.Shortcut, MaxShortcutChars)
		default:
			lower := strings.ToLower(r.Shortcut)
			if j, ok := seen[lower]; ok {
				bad("%s.shortcut: %q is already used by cannedResponses[%d]", key, r.Shortcut, j)
			} else {
				seen[lower] = i
			}
		}
		switch n := utf8.RuneCountInString(r.Text); {
		case strings.TrimSpace(r.Text) == "":
			bad("%s.text: required", key)
		case messageChars > 0 && n > messageChars:
			bad("%s.text: %d characters, more than one message holds (limits.messageChars: %d)", key, n, messageChars)
		}
	}
}
