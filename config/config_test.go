package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
)

const examplePath = "../testdata/cxgate.example.yaml"

// valid is a small valid file; the cases below break one thing each.
const valid = `
adminToken: admin-secret
deployments:
  - key: demo
    queue: support
    origins: ["https://shop.example"]
queues:
  - name: support
agents:
  - id: ann
    token: ann-secret
webhooks:
  - url: https://hooks.example/cxgate
    secret: s
`

func mustParse(t testing.TB, yml string) config.Config {
	t.Helper()
	c, err := config.Parse(strings.NewReader(yml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestLoad_Example(t *testing.T) {
	c, err := config.Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	enabled := true
	want := config.Config{
		Addr:       "127.0.0.1:8080",
		Data:       "./data",
		AdminToken: "change-me",
		Limits:     config.Demo().Limits,
		Deployments: []config.Deployment{{
			Key:              "demo",
			Mode:             config.ModeLive,
			Queue:            "support",
			Origins:          []string{"http://localhost:8080"},
			Identity:         config.IdentityAnonymous,
			RestoreTimeout:   60 * time.Second,
			IdleTimeout:      24 * time.Hour,
			ThreadInactivity: 30 * time.Minute,
			Files: config.Files{Enabled: true, MaxBytes: 10485760, MaxUploads: 10,
				Types: []string{"image/png", "image/jpeg", "application/pdf", "text/plain"}},
			Enabled: &enabled, Display: config.DisplayFloating,
			CannedResponses: []config.CannedResponse{{Shortcut: "greet", Text: "Hello, how can I help?"}},
		}},
		Queues: []config.Queue{{Name: "support", Skills: []string{}}},
		Agents: []config.Agent{{ID: "ann", Name: "Ann", Token: "ann-secret", TokenHash: config.HashToken("ann-secret"),
			Kind: config.KindHuman, Skills: []string{}, MaxChats: 5}},
		Webhooks: []config.Webhook{{ID: "webhook-1", URL: "http://127.0.0.1:9000/hook", Secret: "hook-secret",
			Events: []string{"thread.created", "message.created", "chat.ended"}}},
		AllowPrivateWebhooks: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example parsed as\n%+v\nwant\n%+v", c, want)
	}
}

// TestExample_README keeps the README's example and the example file the
// same text: both are DESIGN.md's documented example.
func TestExample_README(t *testing.T) {
	file, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(readme, []byte("](testdata/cxgate.example.yaml):\n\n```yaml\n"))
	if !ok {
		t.Fatal("README no longer shows the example after its link")
	}
	block, _, ok := bytes.Cut(rest, []byte("```"))
	if !ok {
		t.Fatal("README's yaml block is not closed")
	}
	if !bytes.Equal(block, file) {
		t.Errorf("README example and %s differ:\nREADME:\n%s\nfile:\n%s", examplePath, block, file)
	}
}

func TestLoad_Errors(t *testing.T) {
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("adress: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "adress") {
		t.Errorf("Load(bad) = %v, want an error naming the file and the key", err)
	}
}

func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yml  string // replaces old in valid
		old  string
		want []string // substrings of the error
	}{
		{"UnknownTopKey", "adminToken: admin-secret\nadress: x", "adminToken: admin-secret", []string{"adress"}},
		{"UnknownDeploymentKey", "    queue: support\n    queues: [a]", "    queue: support", []string{"queues", "line 6"}},
		{"UnknownAgentKey", "    token: ann-secret\n    maxchats: 3", "    token: ann-secret", []string{"maxchats"}},
		{"BadType", "    token: ann-secret\n    maxChats: many", "    token: ann-secret", []string{"many", "line 12"}},
		{"BadDuration", "    queue: support\n    idleTimeout: soon", "    queue: support", []string{"soon"}},
		{"Mode", "    queue: support\n    mode: chat", "    queue: support", []string{"deployments[0].mode", `"chat"`}},
		{"SignedWithoutSecret", "    queue: support\n    identity: signed", "    queue: support", []string{"deployments[0].jwtSecret", "signed"}},
		{"SignedShortSecret", "    queue: support\n    identity: signed\n    jwtSecret: short", "    queue: support", []string{"deployments[0].jwtSecret"}},
		{"Identity", "    queue: support\n    identity: oauth", "    queue: support", []string{"deployments[0].identity", `"oauth"`}},
		{"MaxChatsZero", "    token: ann-secret\n    maxChats: 0", "    token: ann-secret", []string{"agents[0].maxChats", "0"}},
		{"MaxChats100", "    token: ann-secret\n    maxChats: 100", "    token: ann-secret", []string{"agents[0].maxChats", "100"}},
		{"MaxChatsNegative", "    token: ann-secret\n    maxChats: -1", "    token: ann-secret", []string{"agents[0].maxChats"}},
		{"AgentKind", "    token: ann-secret\n    kind: robot", "    token: ann-secret", []string{"agents[0].kind", `"robot"`}},
		{"Valid", "    token: ann-secret", "    token: ann-secret", nil}, // control: valid
		{"AgentToken", "    token: short", "    token: ann-secret", []string{"agents[0].token"}},
		{"AgentTokenIsAdmin", "    token: admin-secret", "    token: ann-secret", []string{"agents[0].token"}},
		{"AgentTokenMissing", "    name: Ann", "    token: ann-secret", []string{"agents[0].token", "required"}},
		{"AgentTokenHash", "    tokenHash: " + config.HashToken("ann-secret"), "    token: ann-secret", nil},
		{"AgentTokenHashUpper", "    tokenHash: " + strings.ToUpper(config.HashToken("ann-secret")), "    token: ann-secret", nil},
		{"AgentTokenHashBad", "    tokenHash: abc", "    token: ann-secret", []string{"agents[0].tokenHash"}},
		{"AgentTokenHashIsAdmin", "    tokenHash: " + config.HashToken("admin-secret"), "    token: ann-secret", []string{"agents[0].token", "already used"}},
		{"AgentTokenHashTwice", "    token: ann-secret\n  - id: bob\n    tokenHash: " + config.HashToken("ann-secret"), "    token: ann-secret", []string{"agents[1].token", "already used"}},
		{"AgentID", "  - id: a b", "  - id: ann", []string{"agents[0].id", `"a b"`}},
		{"DuplicateAgent", "    token: ann-secret\n  - id: ann\n    token: other-secret", "    token: ann-secret", []string{"agents[1].id", "twice"}},
		{"DuplicateDeploymentKey", "    origins: [\"https://shop.example\"]\n  - key: demo\n    queue: support", "    origins: [\"https://shop.example\"]", []string{"deployments[1].key", `"demo"`, "twice"}},
		{"DeploymentKey", "  - key: demo/1", "  - key: demo", []string{"deployments[0].key"}},
		{"QueueNotDeclared", "    queue: sales", "    queue: support", []string{"deployments[0].queue", `"sales"`}},
		{"QueueMissing", "    queue: \"\"", "    queue: support", []string{"deployments[0].queue", "required"}},
		{"DuplicateQueue", "  - name: support\n  - name: support", "  - name: support", []string{"queues[1].name", "twice"}},
		{"OriginPath", `    origins: ["https://shop.example/shop"]`, `    origins: ["https://shop.example"]`, []string{"deployments[0].origins[0]", "shop.example/shop"}},
		{"OriginNoScheme", `    origins: ["https://a.example", "shop.example"]`, `    origins: ["https://shop.example"]`, []string{"deployments[0].origins[1]"}},
		{"OriginScheme", `    origins: ["ftp://shop.example"]`, `    origins: ["https://shop.example"]`, []string{"deployments[0].origins[0]"}},
		{"OriginQuery", `    origins: ["https://shop.example?a=1"]`, `    origins: ["https://shop.example"]`, []string{"deployments[0].origins[0]"}},
		{"OriginUser", `    origins: ["https://ann@shop.example"]`, `    origins: ["https://shop.example"]`, []string{"deployments[0].origins[0]"}},
		{"OriginEmpty", `    origins: [""]`, `    origins: ["https://shop.example"]`, []string{"deployments[0].origins[0]"}},
		{"NegativeTimeout", "    queue: support\n    restoreTimeout: -1s", "    queue: support", []string{"deployments[0].restoreTimeout"}},
		{"NegativeFiles", "    queue: support\n    files: {maxBytes: -1}", "    queue: support", []string{"deployments[0].files"}},
		{"FileTypeBogus", "    queue: support\n    files: {types: [bogus]}", "    queue: support", []string{"deployments[0].files.types[0]", `"bogus"`}},
		{"FileTypeNoSubtype", "    queue: support\n    files: {types: [text/plain, image/]}", "    queue: support", []string{"deployments[0].files.types[1]", `"image/"`}},
		{"FileTypeParams", "    queue: support\n    files: {types: [\"text/plain; charset=utf-8\"]}", "    queue: support", nil},
		{"FileTypeUpper", "    queue: support\n    files: {types: [Image/PNG]}", "    queue: support", nil},
		{"FileTypeAnyType", "    queue: support\n    files: {types: [\"*/*\"]}", "    queue: support", []string{"deployments[0].files.types[0]"}},
		{"FileTypeEmpty", "    queue: support\n    files: {types: [\"\"]}", "    queue: support", []string{"deployments[0].files.types[0]"}},
		{"FileTypeWildcard", "    queue: support\n    files: {types: [\"image/*\", application/pdf]}", "    queue: support", nil},
		{"QueueSkillEmpty", "  - name: support\n    skills: [billing, \"\"]", "  - name: support", []string{"queues[0].skills[1]", "empty"}},
		{"QueueSkillTwice", "  - name: support\n    skills: [billing, billing]", "  - name: support", []string{"queues[0].skills[1]", `"billing"`, "twice"}},
		{"AgentSkillEmpty", "    token: ann-secret\n    skills: [\" \"]", "    token: ann-secret", []string{"agents[0].skills[0]", "empty"}},
		{"AgentSkillTwice", "    token: ann-secret\n    skills: [a, b, a]", "    token: ann-secret", []string{"agents[0].skills[2]", `"a"`, "twice"}},
		{"AgentLanguageEmpty", "    token: ann-secret\n    languages: [\"\"]", "    token: ann-secret", []string{"agents[0].languages[0]", "empty"}},
		{"AgentLanguageTwice", "    token: ann-secret\n    languages: [en, fr, en]", "    token: ann-secret", []string{"agents[0].languages[2]", `"en"`, "twice"}},
		{"SkillsAndLanguages", "    token: ann-secret\n    skills: [a, b]\n    languages: [en, fr]", "    token: ann-secret", nil},
		{"WebhookURL", "  - url: hooks.example/cxgate", "  - url: https://hooks.example/cxgate", []string{"webhooks[0].url"}},
		{"WebhookScheme", "  - url: ftp://hooks.example/cxgate", "  - url: https://hooks.example/cxgate", []string{"webhooks[0].url"}},
		{"WebhookSecret", "    secret: \"\"", "    secret: s", []string{"webhooks[0].secret"}},
		{"WebhookID", "  - id: a/b\n    url: https://hooks.example/cxgate", "  - url: https://hooks.example/cxgate", []string{"webhooks[0].id", `"a/b"`}},
		{"WebhookIDTwice", "    secret: s\n    id: h\n  - {id: h, url: \"https://b.example\", secret: s}", "    secret: s", []string{"webhooks[1].id", "twice"}},
		{"AdminToken", "adminToken: short", "adminToken: admin-secret", []string{"adminToken"}},
		{"LimitNegative", "limits: {bodyBytes: -1}\nadminToken: admin-secret", "adminToken: admin-secret", []string{"limits.bodyBytes"}},
		{"HeartbeatNegative", "limits: {heartbeatSeconds: -25}\nadminToken: admin-secret", "adminToken: admin-secret", []string{"limits.heartbeatSeconds"}},
		{"RateOff", "limits: {ratePerToken: -1, ratePerIP: -1}\nadminToken: admin-secret", "adminToken: admin-secret", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(valid, tc.old) {
				t.Fatalf("%q is not in the valid file", tc.old)
			}
			yml := strings.Replace(valid, tc.old, tc.yml, 1)
			_, err := config.Parse(strings.NewReader(yml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", yml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestParse_AllErrors checks that every problem is reported at once.
func TestParse_AllErrors(t *testing.T) {
	yml := `
deployments:
  - key: demo
    mode: chat
    queue: nope
agents:
  - id: ann
    token: x
    maxChats: 100
webhooks:
  - url: nowhere
`
	_, err := config.Parse(strings.NewReader(yml))
	if err == nil {
		t.Fatal("Parse accepted a bad file")
	}
	for _, key := range []string{"deployments[0].mode", "deployments[0].queue", "agents[0].token", "agents[0].maxChats", "webhooks[0].url", "webhooks[0].secret"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	if got, want := strings.Count(err.Error(), "\n")+1, 6; got != want {
		t.Errorf("%d problems reported, want %d:\n%v", got, want, err)
	}
}

func TestParse_Defaults(t *testing.T) {
	c := mustParse(t, "deployments:\n  - {key: d, queue: q}\nqueues:\n  - name: q\nagents:\n  - {id: bob, token: bob-secret}\n")
	if c.Addr != "127.0.0.1:8080" || c.Data != "./data" {
		t.Errorf("addr, data = %q, %q", c.Addr, c.Data)
	}
	want := config.Limits{BodyBytes: 64 << 10, MessageChars: 4096, UserDataBytes: 16 << 10, RatePerToken: 20,
		RatePerIP: 100, SocketsPerChat: 16, LongPollSeconds: 60, HeartbeatSeconds: 25,
		ConnectionsPerIP: 128, UploadsPerIP: 2, UploadsTotal: 8, ChatsPerIPPerMinute: 20, StoreBytesPerMinute: 32 << 20}
	if c.Limits != want {
		t.Errorf("limits = %+v, want %+v", c.Limits, want)
	}
	d := c.Deployments[0]
	if d.Mode != config.ModeLive || d.Identity != config.IdentityAnonymous {
		t.Errorf("mode, identity = %q, %q", d.Mode, d.Identity)
	}
	if d.RestoreTimeout != 60*time.Second || d.IdleTimeout != 24*time.Hour || d.ThreadInactivity != 30*time.Minute {
		t.Errorf("timeouts = %v, %v, %v; want 60s, 24h, 30m", d.RestoreTimeout, d.IdleTimeout, d.ThreadInactivity)
	}
	if d.Files.Enabled || d.Files.MaxBytes != 10<<20 || d.Files.MaxUploads != 10 || len(d.Files.Types) != 4 {
		t.Errorf("files = %+v", d.Files)
	}
	a := c.Agents[0]
	if a.Kind != config.KindHuman || a.MaxChats != 5 || a.Name != "bob" {
		t.Errorf("agent = %+v", a)
	}

	// Set values are kept.
	c = mustParse(t, `
limits: {bodyBytes: 1024, ratePerIP: -1}
deployments:
  - {key: d, queue: q, mode: async, restoreTimeout: 5s, idleTimeout: 1h, threadInactivity: 2m, files: {maxBytes: 1, maxUploads: 2, types: [text/plain]}}
queues:
  - name: q
agents:
  - {id: bot, name: Bot, token: bot-secret, kind: bot, maxChats: 99}
`)
	if c.Limits.BodyBytes != 1024 || c.Limits.RatePerIP != -1 || c.Limits.RatePerToken != 20 {
		t.Errorf("limits = %+v", c.Limits)
	}
	d = c.Deployments[0]
	if d.Mode != config.ModeAsync || d.RestoreTimeout != 5*time.Second || d.IdleTimeout != time.Hour ||
		d.ThreadInactivity != 2*time.Minute || d.Files.MaxBytes != 1 || d.Files.MaxUploads != 2 || len(d.Files.Types) != 1 {
		t.Errorf("deployment = %+v", d)
	}
	if a := c.Agents[0]; a.Kind != config.KindBot || a.MaxChats != 99 || a.Name != "Bot" {
		t.Errorf("agent = %+v", a)
	}
}

func TestParse_TokenHashAndWebhookIDs(t *testing.T) {
	c := mustParse(t, `
agents:
  - {id: ann, token: ann-secret}
  - {id: bob, tokenHash: "`+strings.ToUpper(config.HashToken("bob-secret"))+`"}
webhooks:
  - {url: "https://a.example", secret: s}
  - {id: webhook-1, url: "https://b.example", secret: s}
  - {url: "https://c.example", secret: s}
`)
	if got, want := c.Agents[0].TokenHash, config.HashToken("ann-secret"); got != want {
		t.Errorf("ann's tokenHash = %q, want %q", got, want)
	}
	if got, want := c.Agents[1].TokenHash, config.HashToken("bob-secret"); got != want {
		t.Errorf("bob's tokenHash = %q, want the lower-case %q", got, want)
	}
	var ids []string
	for _, w := range c.Webhooks {
		ids = append(ids, w.ID)
	}
	if got, want := strings.Join(ids, ","), "webhook-2,webhook-1,webhook-3"; got != want {
		t.Errorf("webhook ids = %s, want %s", got, want)
	}
}

func TestConfig_ApplyDefaults_Idempotent(t *testing.T) {
	c := mustParse(t, valid)
	again := c
	again.Deployments = append([]config.Deployment(nil), c.Deployments...)
	again.Agents = append([]config.Agent(nil), c.Agents...)
	again.ApplyDefaults()
	if !reflect.DeepEqual(c, again) {
		t.Errorf("ApplyDefaults changed a defaulted config:\n%+v\n%+v", c, again)
	}
}

func TestDemo(t *testing.T) {
	c := config.Demo()
	if err := c.Validate(); err != nil {
		t.Fatalf("Demo() does not validate: %v", err)
	}
	live, ok := c.Deployment("demo")
	if !ok || live.Mode != config.ModeLive {
		t.Errorf("demo = %+v, %v; want a live deployment", live, ok)
	}
	async, ok := c.Deployment("demo-async")
	if !ok || async.Mode != config.ModeAsync {
		t.Errorf("demo-async = %+v, %v; want an async deployment", async, ok)
	}
	if _, ok := c.Queue(live.Queue); !ok {
		t.Errorf("queue %q not declared", live.Queue)
	}
	if len(c.Agents) != 1 || c.AdminToken == "" || live.RestoreTimeout != 60*time.Second || c.Limits.BodyBytes == 0 {
		t.Errorf("Demo() = %+v", c)
	}
	if _, ok := c.Deployment("nope"); ok {
		t.Error("Deployment(nope) found")
	}
	if _, ok := c.Queue("nope"); ok {
		t.Error("Queue(nope) found")
	}
}

func TestDeployment_AllowsOrigin(t *testing.T) {
	d := config.Deployment{Origins: []string{"https://shop.example", "http://localhost:8080/"}}
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"", true},
		{"https://shop.example", true},
		{"HTTPS://SHOP.EXAMPLE", true},
		{"http://localhost:8080", true}, // configured with a trailing slash
		{"http://shop.example", false},
		{"https://shop.example.evil", false},
		{"https://evil.example", false},
		{"null", false},
	} {
		if got := d.AllowsOrigin(tc.origin); got != tc.want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", tc.origin, got, tc.want)
		}
	}
	wildcard := config.Deployment{Origins: []string{"*"}}
	if !wildcard.AllowsOrigin("https://anything.example") {
		t.Error(`"*" does not allow every origin`)
	}
	if (config.Deployment{}).AllowsOrigin("https://shop.example") {
		t.Error("a deployment without origins allows a browser origin")
	}
}

// TestParse_FileTypesNormalized: a type written with capitals or parameters
// is kept in the form uploads are matched against.
func TestParse_FileTypesNormalized(t *testing.T) {
	c := mustParse(t, "deployments:\n  - {key: d, queue: q, files: {types: [Image/PNG, \"text/plain; charset=utf-8\", image/*]}}\nqueues:\n  - name: q\n")
	if got, want := c.Deployments[0].Files.Types, []string{"image/png", "text/plain", "image/*"}; !slices.Equal(got, want) {
		t.Errorf("files.types = %q, want %q", got, want)
	}
}

// TestParse_Web: the top-level keys of the web in front of the gateway are
// read, and a bad value is refused naming its key.
func TestParse_Web(t *testing.T) {
	c := mustParse(t, valid+`publicURL: https://Chat.Example/
trustedProxies: ["10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8"]
frameAncestors: ["https://intranet.example", "https://*.example.com:8443"]
metricsAddr: "127.0.0.1:9090"
`)
	want := config.Web{PublicURL: "https://Chat.Example/", TrustedProxies: []string{"10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8"},
		FrameAncestors: []string{"https://intranet.example", "https://*.example.com:8443"}, MetricsAddr: "127.0.0.1:9090"}
	if !reflect.DeepEqual(c.Web, want) {
		t.Errorf("web keys = %+v, want %+v", c.Web, want)
	}
	if got := c.PublicOrigin(); got != "https://chat.example" {
		t.Errorf("PublicOrigin = %q", got)
	}
	if !config.Demo().Demo || c.Demo {
		t.Error("only the demo setup is the demo")
	}
	for _, tc := range []struct{ yml, key string }{
		{"publicURL: chat.example", "publicURL"},
		{"publicURL: https://chat.example/path", "publicURL"},
		{"publicURL: ftp://chat.example", "publicURL"},
		{"trustedProxies: [proxy.internal]", "trustedProxies[0]"},
		{"trustedProxies: [10.0.0.0/33]", "trustedProxies[0]"},
		{"frameAncestors: [\"*\"]", "frameAncestors[0]"},
		{"frameAncestors: [\"https://a.example; script-src *\"]", "frameAncestors[0]"},
		{"frameAncestors: [\"'unsafe-inline'\"]", "frameAncestors[0]"},
		{"frameAncestors: [\"https://a.*.example\"]", "frameAncestors[0]"},
		{"metricsAddr: \"9090\"", "metricsAddr"},
		{"demo: true", "demo"},
	} {
		_, err := config.Parse(strings.NewReader(valid + tc.yml + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: err %v, want one naming %s", tc.yml, err, tc.key)
		}
	}
}

// TestValidate_PrivateWebhooks: a webhook URL on a loopback, private or
// link-local address is refused unless allowPrivateWebhooks is set.
func TestValidate_PrivateWebhooks(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:22/",
		"http://10.0.0.5/", "http://169.254.169.254/latest/meta-data", "https://192.168.1.1/"} {
		yml := "webhooks:\n  - {url: \"" + u + "\", secret: s}\n"
		_, err := config.Parse(strings.NewReader(yml))
		if err == nil || !strings.Contains(err.Error(), "allowPrivateWebhooks") {
			t.Errorf("%s: %v, want a refusal naming allowPrivateWebhooks", u, err)
		}
		mustParse(t, "allowPrivateWebhooks: true\n"+yml)
	}
	mustParse(t, "webhooks:\n  - {url: \"https://hooks.example.com/x\", secret: s}\n")
}
