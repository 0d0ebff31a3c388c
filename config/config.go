package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cxgate/cxgate/internal/netguard"
	"github.com/cxgate/cxgate/model"
)

// Config is the whole configuration file.
type Config struct {
	Addr        string       `yaml:"addr"`
	Data        string       `yaml:"data"`
	AdminToken  string       `yaml:"adminToken"`
	Limits      Limits       `yaml:"limits"`
	Deployments []Deployment `yaml:"deployments"`
	Queues      []Queue      `yaml:"queues"`
	Agents      []Agent      `yaml:"agents"`
	Webhooks    []Webhook    `yaml:"webhooks"`

	// publicURL, trustedProxies, frameAncestors, metricsAddr: see web.go.
	Web `yaml:",inline"`
	// AllowPrivateWebhooks lets webhook URLs reach loopback, private and
	// link-local addresses (internal/netguard); off, they are refused.
	AllowPrivateWebhooks bool `yaml:"allowPrivateWebhooks"`

	// Store and Cluster: see cluster.go.
	Store   Store   `yaml:"store"`
	Cluster Cluster `yaml:"cluster"`
}

// Limits bound what one client may send.
type Limits struct {
	BodyBytes        int `yaml:"bodyBytes"`        // HTTP body and socket frame; default 64 KiB
	MessageChars     int `yaml:"messageChars"`     // one message's text; default 4096
	UserDataBytes    int `yaml:"userDataBytes"`    // encoded userData of a chat; default 16 KiB
	RatePerToken     int `yaml:"ratePerToken"`     // commands per second per token; default 20
	RatePerIP        int `yaml:"ratePerIP"`        // requests per second per IP; default 100
	SocketsPerChat   int `yaml:"socketsPerChat"`   // open sockets of one chat (native, guest chat stream); default 16
	LongPollSeconds  int `yaml:"longPollSeconds"`  // longest wait; default 60
	HeartbeatSeconds int `yaml:"heartbeatSeconds"` // socket ping interval; default 25
	// ConnectionsPerIP bounds the TCP connections one peer address holds
	// open (IPv4; behind a proxy, the proxy's): default 128, negative = off.
	ConnectionsPerIP int `yaml:"connectionsPerIP"`
	// UploadsPerIP and UploadsTotal bound the uploads in progress, per
	// client IP and in all: defaults 2 and 8, negative = off.
	UploadsPerIP int `yaml:"uploadsPerIP"`
	UploadsTotal int `yaml:"uploadsTotal"`
	// ChatsPerIPPerMinute bounds the chats one client IP starts (or
	// resumes) per minute, on every wire: default 20, negative = off.
	ChatsPerIPPerMinute int `yaml:"chatsPerIPPerMinute"`
	// StoreBytesPerMinute bounds what the visitor commands of one client
	// IP may add to the store per minute, files included: default 32 MiB,
	// negative = off.
	StoreBytesPerMinute int `yaml:"storeBytesPerMinute"`
}

// Deployment is one website's widget setup.
type Deployment struct {
	Key              string         `yaml:"key"`
	Mode             model.Mode     `yaml:"mode"` // live | async
	Queue            string         `yaml:"queue"`
	Origins          []string       `yaml:"origins"`
	Identity         string         `yaml:"identity"` // anonymous | signed | unsigned-uuid
	JWTSecret        string         `yaml:"jwtSecret"`
	JWTAudience      string         `yaml:"jwtAudience"` // the aud a signed identity must name; default the key
	RestoreTimeout   time.Duration  `yaml:"restoreTimeout"`
	IdleTimeout      time.Duration  `yaml:"idleTimeout"`
	ThreadInactivity time.Duration  `yaml:"threadInactivity"`
	Files            Files          `yaml:"files"`
	UserData         map[string]any `yaml:"userData"`
	// Proactive engagement (proactive.go): the loader's switches and what
	// the browser's Chat Manager shows.
	Enabled           *bool      `yaml:"enabled"` // absent: true
	Maintenance       bool       `yaml:"maintenance"`
	MaintenanceReason string     `yaml:"maintenanceReason,omitempty"`
	Display           Display    `yaml:"display"`
	Variables         []Variable `yaml:"variables,omitempty"`
	Triggers          []Trigger  `yaml:"triggers,omitempty"`
	Items             []Item     `yaml:"items,omitempty"`
	Retention         Retention  `yaml:"retention,omitempty"` // absent: keep forever
	// CannedResponses are the replies agents insert with "/" (canned.go).
	CannedResponses []CannedResponse `yaml:"cannedResponses,omitempty"`
}

// Files is a deployment's file policy.
type Files struct {
	Enabled    bool     `yaml:"enabled"`
	MaxBytes   int64    `yaml:"maxBytes"`
	MaxUploads int      `yaml:"maxUploads"`
	Types      []string `yaml:"types"`
}

// MaxFileBytes is the largest files.maxBytes a deployment may set.
const MaxFileBytes = 64 << 20

// Queue routes chats to agents with its skills.
type Queue struct {
	Name         string   `yaml:"name"`
	Skills       []string `yaml:"skills"`
	Language     string   `yaml:"language"`     // agents must speak it; "" for any
	ManualAccept bool     `yaml:"manualAccept"` // agents accept chats themselves
	// WhenNoAgents is the policy for a chat that nobody online could serve:
	// "queue" (default) waits for an agent, "reject" refuses startChat.
	WhenNoAgents string `yaml:"whenNoAgents"`
}

// Agent is a human or a bot answering chats.
type Agent struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
	// TokenHash is the hex SHA-256 of the token: what is stored and what
	// agents are authenticated against. ApplyDefaults computes it from
	// Token; a file may give it instead of the token.
	TokenHash string                `yaml:"tokenHash"`
	Kind      model.ParticipantKind `yaml:"kind"` // human | bot
	Skills    []string              `yaml:"skills"`
	MaxChats  int                   `yaml:"maxChats"`
	// Languages the agent serves in; a queue or chat that asks for a
	// language goes only to agents listing it.
	Languages []string `yaml:"languages"`
	// Supervisor agents may join any chat, silently or openly.
	Supervisor bool `yaml:"supervisor"`
}

// Webhook subscribes a URL to events.
type Webhook struct {
	ID     string   `yaml:"id"` // default "webhook-N", the first N not taken
	URL    string   `yaml:"url"`
	Secret string   `yaml:"secret"`
	Events []string `yaml:"events"` // some of WebhookEvents; empty: all of them
}

// WebhookEvents are the event names a webhook may subscribe to.
func WebhookEvents() []string {
	return []string{"chat.started", "thread.created", "message.created", "chat.transferred", "chat.ended", "chat.resolved",
		"message.left", "message.answered", "identity.erased", "chat.rated"}
}

// Modes and policies.
const (
	ModeLive          = model.ModeLive
	ModeAsync         = model.ModeAsync
	IdentityAnonymous = "anonymous"
	IdentitySigned    = "signed"
	KindHuman         = model.KindHuman
	KindBot           = model.KindBot
)

// IdentityUnsignedUUID trusts a uuid the page sends without a signature:
// whoever knows or guesses one reads that visitor's conversations.
const IdentityUnsignedUUID = "unsigned-uuid"

// Load reads and validates the file at path.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML strictly (unknown keys are errors), applies defaults and
// validates.
func Parse(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return Config{}, err
	}
	// Walk the tree first: its messages name the key path, the line and
	// the accepted form, where the decoder's name only a Go type.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, err
	}
	chk := checkDocument(&root, reflect.TypeOf(Config{}))
	if len(chk.errs) > 0 {
		return Config{}, errors.Join(chk.errs...)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	// A second document would be ignored, its keys unchecked: refuse it.
	for {
		var rest yaml.Node
		err := dec.Decode(&rest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Config{}, err
		}
		if len(rest.Content) > 0 && rest.Content[0].Tag != "!!null" {
			return Config{}, fmt.Errorf("line %d: a second YAML document (after ---): the configuration is one document",
				rest.Content[0].Line)
		}
	}
	c.ApplyDefaults()
	// A written maxChats: 0 is out of range, not "use the default".
	var written struct {
		Agents []struct {
			MaxChats *int `yaml:"maxChats"`
		} `yaml:"agents"`
	}
	_ = yaml.Unmarshal(data, &written) // the strict decode above reported any error
	for i, a := range written.Agents {
		if a.MaxChats != nil && *a.MaxChats == 0 && i < len(c.Agents) {
			c.Agents[i].MaxChats = 0
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, chk.withLines(err)
	}
	return c, nil
}

// ApplyDefaults fills every zero field with its default. It is idempotent.
func (c *Config) ApplyDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.Data == "" {
		c.Data = "./data"
	}
	l := &c.Limits
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.BodyBytes, 64<<10)
	def(&l.MessageChars, 4096)
	def(&l.UserDataBytes, 16<<10)
	def(&l.RatePerToken, 20)
	def(&l.RatePerIP, 100)
	def(&l.SocketsPerChat, 16)
	def(&l.ConnectionsPerIP, 128)
	def(&l.UploadsPerIP, 2)
	def(&l.UploadsTotal, 8)
	def(&l.ChatsPerIPPerMinute, 20)
	def(&l.StoreBytesPerMinute, 32<<20)
	def(&l.LongPollSeconds, 60)
	def(&l.HeartbeatSeconds, 25)
	for i := range c.Deployments {
		c.Deployments[i].applyDefaults()
	}
	for i := range c.Agents {
		a := &c.Agents[i]
		if a.Kind == "" {
			a.Kind = KindHuman
		}
		if a.MaxChats == 0 {
			a.MaxChats = 5
		}
		if a.Name == "" {
			a.Name = a.ID
		}
		if a.Token != "" {
			a.TokenHash = HashToken(a.Token)
		}
		a.TokenHash = strings.ToLower(a.TokenHash)
	}
	hooks := map[string]bool{}
	for _, w := range c.Webhooks {
		hooks[w.ID] = true
	}
	n := 0
	for i := range c.Webhooks {
		for c.Webhooks[i].ID == "" {
			n++
			if id := fmt.Sprintf("webhook-%d", n); !hooks[id] {
				c.Webhooks[i].ID, hooks[id] = id, true
			}
		}
	}
}

// HashToken is how agent tokens are kept: the hex SHA-256 of the token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	l := c.Limits
	for _, f := range []struct {
		name string
		v    int
	}{
		{"bodyBytes", l.BodyBytes}, {"messageChars", l.MessageChars}, {"userDataBytes", l.UserDataBytes},
		{"socketsPerChat", l.SocketsPerChat}, {"longPollSeconds", l.LongPollSeconds}, {"heartbeatSeconds", l.HeartbeatSeconds},
	} {
		if f.v < 0 {
			bad("limits.%s: %d must be positive", f.name, f.v)
		}
	}
	queues := map[string]bool{}
	for i, q := range c.Queues {
		switch {
		case !validID(q.Name):
			bad("queues[%d].name: %q is not a valid name (letters, digits, - and _, at most 64)", i, q.Name)
		case queues[q.Name]:
			bad("queues[%d].name: %q is declared twice", i, q.Name)
		}
		queues[q.Name] = true
		if q.WhenNoAgents != "" && q.WhenNoAgents != "queue" && q.WhenNoAgents != "reject" {
			bad("queues[%d].whenNoAgents: %q is not queue or reject", i, q.WhenNoAgents)
		}
		checkList(&errs, fmt.Sprintf("queues[%d].skills", i), q.Skills)
	}
	c.validateCluster(bad)
	keys := map[string]bool{}
	for i, d := range c.Deployments {
		at := fmt.Sprintf("deployments[%d]", i)
		switch {
		case !validID(d.Key):
			bad("%s.key: %q is not a valid key (letters, digits, - and _, at most 64)", at, d.Key)
		case keys[d.Key]:
			bad("%s.key: %q is declared twice", at, d.Key)
		}
		keys[d.Key] = true
		if d.Mode != ModeLive && d.Mode != ModeAsync {
			bad("%s.mode: %q is not live or async", at, d.Mode)
		}
		if d.Queue == "" {
			bad("%s.queue: required", at)
		} else if !queues[d.Queue] {
			bad("%s.queue: no queue named %q", at, d.Queue)
		}
		for j, o := range d.Origins {
			if o != "*" && !validOrigin(o) {
				bad("%s.origins[%d]: %q is not an origin like https://shop.example or \"*\"", at, j, o)
			}
		}
		switch d.Identity {
		case IdentityAnonymous, IdentityUnsignedUUID:
		case IdentitySigned:
			if len(d.JWTSecret) < 16 {
				bad("%s.jwtSecret: identity signed needs a secret of at least 16 bytes", at)
			}
		default:
			bad("%s.identity: %q is not anonymous, signed or unsigned-uuid", at, d.Identity)
		}
		if len(d.JWTAudience) > 256 {
			bad("%s.jwtAudience: at most 256 bytes", at)
		}
		for name, v := range map[string]time.Duration{"restoreTimeout": d.RestoreTimeout, "idleTimeout": d.IdleTimeout, "threadInactivity": d.ThreadInactivity} {
			if v < 0 {
				bad("%s.%s: must be positive", at, name)
			}
		}
		d.Retention.validate(at, bad)
		d.validateCanned(at, c.Limits.MessageChars, bad)
		if d.Files.MaxBytes < 0 || d.Files.MaxUploads < 0 {
			bad("%s.files: maxBytes and maxUploads must be positive", at)
		}
		if d.Files.MaxBytes > MaxFileBytes {
			bad("%s.files.maxBytes: at most %d (64 MiB): files are kept in the store and uploads in memory", at, MaxFileBytes)
		}
		for j, t := range d.Files.Types {
			if !validFileType(t) {
				bad("%s.files.types[%d]: %q is not a media type like image/png or image/*, in lower case, without parameters", at, j, t)
			}
		}
		d.validateProactive(at, bad)
	}
	ids, hashes := map[string]bool{}, map[string]bool{}
	for i, a := range c.Agents {
		at := fmt.Sprintf("agents[%d]", i)
		switch {
		case !validID(a.ID):
			bad("%s.id: %q is not a valid id", at, a.ID)
		case ids[a.ID]:
			bad("%s.id: %q is declared twice", at, a.ID)
		}
		ids[a.ID] = true
		hash := strings.ToLower(a.TokenHash)
		if a.Token != "" {
			hash = HashToken(a.Token)
		}
		switch {
		case a.Token == "" && a.TokenHash == "":
			bad("%s.token: required (or its tokenHash)", at)
		case a.Token != "" && len(a.Token) < 8:
			bad("%s.token: at least 8 characters", at)
		case a.Token == "" && !validHash(hash):
			bad("%s.tokenHash: not a hex SHA-256 (64 hex digits)", at)
		case hashes[hash] || c.AdminToken != "" && hash == HashToken(c.AdminToken):
			bad("%s.token: already used by another agent or the admin", at)
		}
		hashes[hash] = true
		if a.Kind != KindHuman && a.Kind != KindBot {
			bad("%s.kind: %q is not human or bot", at, a.Kind)
		}
		if a.MaxChats < 1 || a.MaxChats > 99 {
			bad("%s.maxChats: %d is not within 1–99", at, a.MaxChats)
		}
		checkList(&errs, at+".skills", a.Skills)
		checkList(&errs, at+".languages", a.Languages)
	}
	hookIDs := map[string]bool{}
	for i, w := range c.Webhooks {
		switch {
		case !validID(w.ID):
			bad("webhooks[%d].id: %q is not a valid id (letters, digits, - and _, at most 64)", i, w.ID)
		case hookIDs[w.ID]:
			bad("webhooks[%d].id: %q is declared twice", i, w.ID)
		}
		hookIDs[w.ID] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("webhooks[%d].url: %q is not an http(s) URL", i, w.URL)
		} else if !c.AllowPrivateWebhooks && netguard.LiteralHost(u.Hostname()) {
			bad("webhooks[%d].url: %q is a loopback, private or link-local address (allowPrivateWebhooks: true allows it)", i, w.URL)
		}
		if w.Secret == "" {
			bad("webhooks[%d].secret: required", i)
		}
		for j, ev := range w.Events {
			if !slices.Contains(WebhookEvents(), ev) {
				bad("webhooks[%d].events[%d]: %q is not one of %s", i, j, ev, strings.Join(WebhookEvents(), ", "))
			}
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 8 {
		bad("adminToken: at least 8 characters")
	}
	errs = append(errs, c.Web.validate()...)
	return errors.Join(errs...)
}

// applyDefaults fills the settings a deployment left out.
func (d *Deployment) applyDefaults() {
	if d.Mode == "" {
		d.Mode = ModeLive
	}
	if d.Identity == "" {
		d.Identity = IdentityAnonymous
	}
	if d.RestoreTimeout == 0 {
		d.RestoreTimeout = 60 * time.Second
	}
	if d.IdleTimeout == 0 {
		d.IdleTimeout = 24 * time.Hour
	}
	if d.ThreadInactivity == 0 {
		d.ThreadInactivity = 30 * time.Minute
	}
	if d.Files.MaxBytes == 0 {
		d.Files.MaxBytes = 10 << 20
	}
	d.applyProactiveDefaults()
	if d.Files.MaxUploads == 0 {
		d.Files.MaxUploads = 10
	}
	if len(d.Files.Types) == 0 {
		d.Files.Types = []string{"image/png", "image/jpeg", "application/pdf", "text/plain"}
	}
	// "Image/PNG" and "text/plain; charset=utf-8" name a type the way
	// uploads are matched (lower case, no parameters): written so, they are
	// kept in that form rather than refused, as they always worked.
	for i, t := range d.Files.Types {
		if m, _, err := mime.ParseMediaType(t); err == nil {
			d.Files.Types[i] = m
		}
	}
}

// Deployment returns the deployment with key k.
func (c *Config) Deployment(k string) (Deployment, bool) {
	for _, d := range c.Deployments {
		if d.Key == k {
			return d, true
		}
	}
	return Deployment{}, false
}

// DeploymentOrDefaults is the deployment keyed k, or one with the default
// settings when k is no longer configured: the chats of a deleted
// deployment still idle-end and close their threads on the default timers.
func (c *Config) DeploymentOrDefaults(k string) Deployment {
	if d, ok := c.Deployment(k); ok {
		return d
	}
	d := Deployment{Key: k}
	d.applyDefaults()
	return d
}

// Queue returns the queue named n.
func (c *Config) Queue(n string) (Queue, bool) {
	for _, q := range c.Queues {
		if q.Name == n {
			return q, true
		}
	}
	return Queue{}, false
}

// AllowsOrigin reports whether a browser page of origin o may use d. An empty
// origin (not a browser, or same-origin navigation) is always allowed.
func (d Deployment) AllowsOrigin(o string) bool {
	if o == "" {
		return true
	}
	for _, a := range d.Origins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), o) {
			return true
		}
	}
	return false
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// checkList reports the empty and the repeated entries of a list of names
// (skills, languages) at key.
func checkList(errs *[]error, key string, list []string) {
	seen := map[string]bool{}
	for i, v := range list {
		switch {
		case strings.TrimSpace(v) == "":
			*errs = append(*errs, fmt.Errorf("%s[%d]: empty", key, i))
		case seen[v]:
			*errs = append(*errs, fmt.Errorf("%s[%d]: %q is listed twice", key, i, v))
		}
		seen[v] = true
	}
}

// validFileType reports whether t is a media type "type/subtype" in lower
// case without parameters, or a "type/*" wildcard.
func validFileType(t string) bool {
	m, params, err := mime.ParseMediaType(t)
	if err != nil || m != t || len(params) > 0 {
		return false
	}
	typ, sub, ok := strings.Cut(m, "/")
	return ok && typ != "" && sub != "" && !strings.Contains(typ, "*") &&
		(sub == "*" || !strings.Contains(sub, "*"))
}

func validHash(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == sha256.Size
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == ""
}

// Demo is the setup used when no file is given: a live and an async
// deployment, one queue, one agent, fixed tokens that are printed at start.
func Demo() Config {
	c := Config{
		AdminToken: "demo-admin-token",
		// The demo's receivers run on the same machine.
		AllowPrivateWebhooks: true,
		Deployments: []Deployment{
			{Key: "demo", Mode: ModeLive, Queue: "support", Origins: []string{"*"},
				Files: Files{Enabled: true}, UserData: map[string]any{"source": "demo"}},
			{Key: "demo-async", Mode: ModeAsync, Queue: "support", Origins: []string{"*"},
				Files: Files{Enabled: true}},
		},
		Queues: []Queue{{Name: "support"}},
		Agents: []Agent{{ID: "ann", Name: "Ann", Token: "ann-secret", Kind: KindHuman, MaxChats: 5}},
		Web:    Web{Demo: true},
	}
	demoProactive(&c)
	c.ApplyDefaults()
	return c
}
