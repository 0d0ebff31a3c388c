package config_test

import (
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
)

// site is a realistic file; each case below breaks one line of it.
const site = `addr: "0.0.0.0:8080"
data: /var/lib/cxgate
adminToken: admin-secret
deployments:
  - key: shop
    mode: live
    queue: support
    origins: ["https://shop.example"]
    restoreTimeout: 60s
    threadInactivity: 30m
    idleTimeout: 24h
queues:
  - name: support
agents:
  - id: ann
    token: ann-secret
  - id: bob
    token: bob-secret
    maxChats: 3
webhooks:
  - url: https://hooks.example/cxgate
    secret: s
    events: [chat.ended]
`

// TestParse_Messages: each broken file gives one message naming the key
// path, its line and the form the key accepts.
func TestParse_Messages(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"NotAWholeNumber", "    maxChats: 3", `    maxChats: "three"`,
			`agents[1].maxChats (line 19): "three" is not a whole number`},
		{"Fraction", "    maxChats: 3", `    maxChats: 2.5`,
			`agents[1].maxChats (line 19): "2.5" is not a whole number`},
		{"NotADuration", "    idleTimeout: 24h", "    idleTimeout: 2 hours",
			`deployments[0].idleTimeout (line 11): "2 hours" is not a duration such as 90s, 30m or 24h`},
		{"DurationWithoutUnit", "    restoreTimeout: 60s", "    restoreTimeout: 60",
			`deployments[0].restoreTimeout (line 9): "60" is not a duration such as 90s, 30m or 24h`},
		{"NotABool", "    mode: live", "    mode: live\n    files: {enabled: yes please}",
			`deployments[0].files.enabled (line 7): "yes please" is not true or false`},
		{"UnknownKeyNear", "    maxChats: 3", "    maxchats: 3",
			`agents[1].maxchats (line 19): unknown key "maxchats": did you mean "maxChats"?`},
		{"UnknownKeyTypo", "    idleTimeout: 24h", "    idleTimout: 24h",
			`deployments[0].idleTimout (line 11): unknown key "idleTimout": did you mean "idleTimeout"?`},
		{"UnknownTopKey", `addr: "0.0.0.0:8080"`, `address: "0.0.0.0:8080"`,
			`address (line 1): unknown key "address": did you mean "addr"?`},
		{"UnknownFarKey", "    secret: s", "    secret: s\n    colour: blue",
			`webhooks[0].colour (line 23): unknown key "colour" (known keys: events, id, secret, url)`},
		{"ListExpected", `    origins: ["https://shop.example"]`, `    origins: https://shop.example`,
			`deployments[0].origins (line 8): is "https://shop.example", not a list (- item, or [a, b])`},
		{"KeysExpected", "    mode: live", "    mode: live\n    files: true",
			`deployments[0].files (line 7): is "true", not a set of keys (enabled, maxBytes, maxUploads, types)`},
		// Validation after decoding carries the line too.
		{"ValidationLine", "    mode: live", "    mode: chat",
			`deployments[0].mode (line 6): "chat" is not live or async`},
		{"ValidationRange", "    maxChats: 3", "    maxChats: 100",
			`agents[1].maxChats (line 19): 100 is not within 1–99`},
		{"ValidationMissingKeyNamesItsEntry", "    token: bob-secret\n", "",
			`agents[1].token (line 17): required (or its tokenHash)`},
		{"ValidationListItem", `    origins: ["https://shop.example"]`, `    origins: ["https://shop.example", "shop.example"]`,
			`deployments[0].origins[1] (line 8): "shop.example" is not an origin like https://shop.example or "*"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(site, tc.old) {
				t.Fatalf("%q is not in the file", tc.old)
			}
			_, err := config.Parse(strings.NewReader(strings.Replace(site, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("Parse accepted the broken file")
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
		})
	}
	if _, err := config.Parse(strings.NewReader(site)); err != nil {
		t.Fatalf("the unbroken file: %v", err)
	}
}

// TestParse_MessagesAll: every problem of the tree is reported at once.
func TestParse_MessagesAll(t *testing.T) {
	yml := strings.NewReplacer("    maxChats: 3", "    maxChats: three", "    idleTimeout: 24h", "    idleTimeout: soon",
		"    secret: s", "    secrte: s").Replace(site)
	_, err := config.Parse(strings.NewReader(yml))
	if err == nil {
		t.Fatal("Parse accepted the broken file")
	}
	for _, w := range []string{"agents[1].maxChats (line 19)", "deployments[0].idleTimeout (line 11)", `did you mean "secret"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

// TestParse_AliasBomb: aliases that expand a small file into millions of
// values stop the check with a message instead of walking them all.
func TestParse_AliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &o [")
	for range 2000 {
		b.WriteString(`"https://a.example",`)
	}
	b.WriteString("]\ndeployments: [")
	for range 2000 {
		b.WriteString("{key: k, queue: q, origins: *o},")
	}
	b.WriteString("]\n")
	_, err := config.Parse(strings.NewReader(b.String()))
	if err == nil || !strings.Contains(err.Error(), "expands to too many values") {
		t.Fatalf("Parse of an alias bomb: %v", err)
	}
}
