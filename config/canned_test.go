package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
)

// canned is the realistic site file with two canned responses on its
// deployment, lines 12–16.
var canned = strings.Replace(site, "    idleTimeout: 24h\n", `    idleTimeout: 24h
    cannedResponses:
      - shortcut: greet
        text: "Hello, how can I help?"
      - shortcut: bye
        text: "Thanks for chatting with us!"
`, 1)

// TestCannedResponses_Parse: the list is read as written.
func TestCannedResponses_Parse(t *testing.T) {
	c, err := config.Parse(strings.NewReader(canned))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Deployments[0].CannedResponses
	want := []config.CannedResponse{{Shortcut: "greet", Text: "Hello, how can I help?"}, {Shortcut: "bye", Text: "Thanks for chatting with us!"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cannedResponses = %+v, want %+v", got, want)
	}
}

// TestCannedResponses_Messages: each broken entry is named by its key path
// and line, with the form it accepts.
func TestCannedResponses_Messages(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"DuplicateShortcut", "shortcut: bye", "shortcut: Greet",
			`deployments[0].cannedResponses[1].shortcut (line 15): "Greet" is already used by cannedResponses[0]`},
		{"BadShortcut", "shortcut: bye", "shortcut: good bye",
			`deployments[0].cannedResponses[1].shortcut (line 15): "good bye" is not a shortcut (letters, digits, - and _, at most 32)`},
		{"LongShortcut", "shortcut: bye", "shortcut: " + strings.Repeat("b", 33),
			`deployments[0].cannedResponses[1].shortcut (line 15): "` + strings.Repeat("b", 33) + `" is not a shortcut (letters, digits, - and _, at most 32)`},
		{"BlankText", `text: "Thanks for chatting with us!"`, `text: "  "`,
			`deployments[0].cannedResponses[1].text (line 16): required`},
		{"MissingShortcut", "      - shortcut: bye\n        text:", "      - text:",
			`deployments[0].cannedResponses[1].shortcut (line 15): required`},
		{"TextTooLong", `text: "Thanks for chatting with us!"`, `text: "` + strings.Repeat("x", 4097) + `"`,
			`deployments[0].cannedResponses[1].text (line 16): 4097 characters, more than one message holds (limits.messageChars: 4096)`},
		{"UnknownKey", "shortcut: bye", "shortcut: bye\n        body: x",
			`deployments[0].cannedResponses[1].body (line 16): unknown key "body" (known keys: shortcut, text)`},
		{"NotAList", "    cannedResponses:\n      - shortcut: greet\n        text: \"Hello, how can I help?\"\n      - shortcut: bye\n        text: \"Thanks for chatting with us!\"\n",
			"    cannedResponses: greet\n",
			`deployments[0].cannedResponses (line 12): is "greet", not a list (- item, or [a, b])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(canned, tc.old) {
				t.Fatalf("%q is not in the file", tc.old)
			}
			_, err := config.Parse(strings.NewReader(strings.Replace(canned, tc.old, tc.new, 1)))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestCannedResponses_Count: a list longer than the bound is one message.
func TestCannedResponses_Count(t *testing.T) {
	var b strings.Builder
	b.WriteString("    cannedResponses:\n")
	for i := range config.MaxCannedResponses + 1 {
		fmt.Fprintf(&b, "      - {shortcut: s%d, text: t}\n", i)
	}
	_, err := config.Parse(strings.NewReader(strings.Replace(site, "    idleTimeout: 24h\n", "    idleTimeout: 24h\n"+b.String(), 1)))
	want := "deployments[0].cannedResponses (line 12): 201 entries, at most 200"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}
