package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Proactive engagement (DESIGN.md "Proactive engagement"): what a
// deployment's loader publishes to the browser's Chat Manager. The keys are
// the deployment's enabled, maintenance, maintenanceReason, display,
// variables, triggers and items.

// Display is where the chat window is drawn on the site's pages.
type Display string

// Displays.
const (
	DisplayFloating Display = "floating" // a window at the bottom right of the page
	DisplayEmbedded Display = "embedded" // inline in the page's [data-cxgate-embed] element
)

// VarType is the type of a custom variable's value.
type VarType string

// Variable types.
const (
	VarString  VarType = "string"
	VarNumber  VarType = "number"
	VarBoolean VarType = "boolean"
)

// Variable is a custom variable the Chat Manager reads from the page itself,
// by CSS selector, beside those the page sets with ChatManager.setVariable.
type Variable struct {
	Name     string  `yaml:"name" json:"name"`
	Selector string  `yaml:"selector" json:"selector"`
	Type     VarType `yaml:"type" json:"type"` // default string
}

// Trigger is a configured trigger: when its condition holds (none: always),
// it takes its action, asking /v1/availability first when
// OnlyIfAgentsAvailable.
type Trigger struct {
	Name                  string     `yaml:"name" json:"name"`
	When                  *Condition `yaml:"when,omitempty" json:"when,omitempty"`
	OnlyIfAgentsAvailable bool       `yaml:"onlyIfAgentsAvailable,omitempty" json:"onlyIfAgentsAvailable"`
	Action                Action     `yaml:"action" json:"action"`
}

// Action is what a verified trigger does: show an item, or open the chat.
// Exactly one of its fields is set.
type Action struct {
	Show string `yaml:"show,omitempty" json:"show,omitempty"` // an item's name
	Open string `yaml:"open,omitempty" json:"open,omitempty"` // "chat"
}

// ItemKind is what an item is drawn as.
type ItemKind string

// Item kinds.
const (
	ItemButton     ItemKind = "button"
	ItemInvitation ItemKind = "invitation"
)

// Item is a button or an invitation a trigger shows. Its offline variant,
// optional, is shown in live mode when no agent could serve now, and leads
// to the "leave a message" form.
type Item struct {
	Name    string     `yaml:"name" json:"name"`
	Kind    ItemKind   `yaml:"kind" json:"kind"`
	Online  ItemText   `yaml:"online" json:"online"`
	Offline *ItemText  `yaml:"offline,omitempty" json:"offline,omitempty"`
	Style   *ItemStyle `yaml:"style,omitempty" json:"style,omitempty"`
}

// ItemText is the wording of one variant of an item. A button needs text;
// an invitation needs title, accept and decline.
type ItemText struct {
	Title   string `yaml:"title,omitempty" json:"title,omitempty"`
	Text    string `yaml:"text,omitempty" json:"text,omitempty"`
	Accept  string `yaml:"accept,omitempty" json:"accept,omitempty"`
	Decline string `yaml:"decline,omitempty" json:"decline,omitempty"`
}

// ItemStyle styles an item. Colors are #rgb or #rrggbb.
type ItemStyle struct {
	Position   string `yaml:"position,omitempty" json:"position,omitempty"` // bottom-right (default) | bottom-left
	Color      string `yaml:"color,omitempty" json:"color,omitempty"`       // text
	Background string `yaml:"background,omitempty" json:"background,omitempty"`
}

// ConditionKind names the form of a Condition.
type ConditionKind string

// Condition forms.
const (
	CondAll        ConditionKind = "all"
	CondAny        ConditionKind = "any"
	CondNot        ConditionKind = "not"
	CondURL        ConditionKind = "url"      // a glob on the page's full URL
	CondReferrer   ConditionKind = "referrer" // a glob on the full referrer URL
	CondTimeOnPage ConditionKind = "timeOnPage"
	CondTimeOnSite ConditionKind = "timeOnSite"
	CondPageViews  ConditionKind = "pageViews"
	CondVisits     ConditionKind = "visits"
	CondVar        ConditionKind = "var"
)

// Ops are the comparisons of var, pageViews and visits conditions.
var Ops = []string{"=", "!=", "<", "<=", ">", ">=", "contains", "exists"}

// Condition is one node of a trigger's condition. In YAML and in the admin
// API it is an object with one form: {all: [...]}, {any: [...]}, {not: c},
// {url: glob}, {referrer: glob}, {timeOnPage: 20s}, {timeOnSite: 2m},
// {pageViews: 3} or {pageViews: {op, value}} (likewise visits; a bare number
// means ">="), or {var, op, value}.
type Condition struct {
	Kind     ConditionKind
	Children []Condition   // all, any; not has one
	Glob     string        // url, referrer
	Duration time.Duration // timeOnPage, timeOnSite: at least this long
	Var      string        // var
	Op       string        // var, pageViews, visits
	Value    any           // var (not for exists); pageViews and visits: an int
}

// Limits on the proactive configuration: the loader carries it to every page.
const (
	maxTriggers      = 100
	maxItems         = 100
	maxVariables     = 50
	maxCondNodes     = 64
	maxCondDepth     = 8
	maxProactiveText = 500
)

// UnmarshalYAML decodes one condition strictly: one form per object, the
// keys of that form and no others.
func (c *Condition) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a condition is an object such as {url: \"*/checkout*\"}", n.Line)
	}
	fields := map[string]*yaml.Node{}
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		fields[k] = n.Content[i+1]
		keys = append(keys, k)
	}
	if _, ok := fields["var"]; ok {
		for _, k := range keys {
			if k != "var" && k != "op" && k != "value" {
				return fmt.Errorf("line %d: a var condition takes var, op and value, not %q", n.Line, k)
			}
		}
		*c = Condition{Kind: CondVar}
		if err := fields["var"].Decode(&c.Var); err != nil {
			return err
		}
		if op := fields["op"]; op != nil {
			if err := op.Decode(&c.Op); err != nil {
				return err
			}
		}
		if v := fields["value"]; v != nil {
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: value: a string, number or boolean", v.Line)
			}
			if err := v.Decode(&c.Value); err != nil {
				return err
			}
		}
		return nil
	}
	if len(keys) != 1 {
		return fmt.Errorf("line %d: a condition has one form (all, any, not, url, referrer, timeOnPage, timeOnSite, pageViews, visits or var), got %s; combine several with all",
			n.Line, strings.Join(keys, ", "))
	}
	k, v := keys[0], fields[keys[0]]
	*c = Condition{Kind: ConditionKind(k)}
	switch c.Kind {
	case CondAll, CondAny:
		if v.Kind != yaml.SequenceNode {
			return fmt.Errorf("line %d: %s: a list of conditions", v.Line, k)
		}
		return v.Decode(&c.Children)
	case CondNot:
		c.Children = make([]Condition, 1)
		return v.Decode(&c.Children[0])
	case CondURL, CondReferrer:
		return v.Decode(&c.Glob)
	case CondTimeOnPage, CondTimeOnSite:
		var s string
		if err := v.Decode(&s); err != nil {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("line %d: %s: %q is not a duration such as 20s or 2m", v.Line, k, s)
		}
		c.Duration = d
		return nil
	case CondPageViews, CondVisits:
		c.Op = ">="
		if v.Kind == yaml.MappingNode {
			var cmp struct {
				Op    string `yaml:"op"`
				Value int    `yaml:"value"`
			}
			dec := yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{v}}
			if err := strictDecode(&dec, &cmp); err != nil {
				return fmt.Errorf("line %d: %s: %w", v.Line, k, err)
			}
			c.Op, c.Value = cmp.Op, cmp.Value
			return nil
		}
		var count int
		if err := v.Decode(&count); err != nil {
			return fmt.Errorf("line %d: %s: a number or {op, value}", v.Line, k)
		}
		c.Value = count
		return nil
	}
	return fmt.Errorf("line %d: %q is not a condition (all, any, not, url, referrer, timeOnPage, timeOnSite, pageViews, visits or var)", n.Line, k)
}

// strictDecode decodes a node refusing unknown fields.
func strictDecode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// MarshalYAML writes the condition in the form it is read in.
func (c Condition) MarshalYAML() (any, error) { return c.form(false), nil }

// MarshalJSON writes the condition for the browser: the same forms, with
// durations in milliseconds and pageViews and visits always {op, value}.
func (c Condition) MarshalJSON() ([]byte, error) { return json.Marshal(c.form(true)) }

func (c Condition) form(browser bool) any {
	switch c.Kind {
	case CondAll, CondAny:
		kids := make([]any, len(c.Children))
		for i, k := range c.Children {
			kids[i] = k.form(browser)
		}
		return map[string]any{string(c.Kind): kids}
	case CondNot:
		if len(c.Children) == 1 {
			return map[string]any{"not": c.Children[0].form(browser)}
		}
	case CondURL, CondReferrer:
		return map[string]any{string(c.Kind): c.Glob}
	case CondTimeOnPage, CondTimeOnSite:
		if browser {
			return map[string]any{string(c.Kind): c.Duration.Milliseconds()}
		}
		return map[string]any{string(c.Kind): c.Duration.String()}
	case CondPageViews, CondVisits:
		return map[string]any{string(c.Kind): map[string]any{"op": c.Op, "value": c.Value}}
	case CondVar:
		m := map[string]any{"var": c.Var, "op": c.Op}
		if c.Op != "exists" {
			m["value"] = c.Value
		}
		return m
	}
	return map[string]any{}
}

// LoaderActive reports whether the deployment's loader runs: enabled (the
// default) and not in maintenance.
func (d Deployment) LoaderActive() bool { return d.IsEnabled() && !d.Maintenance }

// IsEnabled reports the enabled key; absent means true.
func (d Deployment) IsEnabled() bool { return d.Enabled == nil || *d.Enabled }

// Item returns the item named n.
func (d Deployment) Item(n string) (Item, bool) {
	for _, it := range d.Items {
		if it.Name == n {
			return it, true
		}
	}
	return Item{}, false
}

// applyProactiveDefaults fills the proactive keys a deployment left out.
func (d *Deployment) applyProactiveDefaults() {
	if d.Enabled == nil {
		on := true
		d.Enabled = &on
	}
	if d.Display == "" {
		d.Display = DisplayFloating
	}
	for i := range d.Variables {
		if d.Variables[i].Type == "" {
			d.Variables[i].Type = VarString
		}
	}
}

var cssColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// validateProactive reports the problems of d's proactive keys, each naming
// its key under at ("deployments[0]").
func (d *Deployment) validateProactive(at string, bad func(string, ...any)) {
	long := func(key, s string) { tooLong(key, s, bad) }
	long(at+".maintenanceReason", d.MaintenanceReason)
	if d.Display != DisplayFloating && d.Display != DisplayEmbedded {
		bad("%s.display: %q is not floating or embedded", at, d.Display)
	}
	if len(d.Variables) > maxVariables || len(d.Triggers) > maxTriggers || len(d.Items) > maxItems {
		bad("%s: at most %d variables, %d triggers and %d items", at, maxVariables, maxTriggers, maxItems)
	}
	if (len(d.Items) > 0 || len(d.Variables) > 0) && len(d.Triggers) == 0 {
		bad("%s.triggers: a deployment with proactive engagement (items or variables) needs at least one trigger", at)
	}
	vars := map[string]bool{}
	for i, v := range d.Variables {
		key := fmt.Sprintf("%s.variables[%d]", at, i)
		switch {
		case !validID(v.Name):
			bad("%s.name: %q is not a valid name (letters, digits, - and _, at most 64)", key, v.Name)
		case vars[v.Name]:
			bad("%s.name: %q is declared twice", key, v.Name)
		}
		vars[v.Name] = true
		if strings.TrimSpace(v.Selector) == "" {
			bad("%s.selector: required (a CSS selector such as #cart-total)", key)
		}
		long(key+".selector", v.Selector)
		if v.Type != VarString && v.Type != VarNumber && v.Type != VarBoolean {
			bad("%s.type: %q is not string, number or boolean", key, v.Type)
		}
	}
	items := map[string]bool{}
	for i, it := range d.Items {
		key := fmt.Sprintf("%s.items[%d]", at, i)
		switch {
		case !validID(it.Name):
			bad("%s.name: %q is not a valid name (letters, digits, - and _, at most 64)", key, it.Name)
		case items[it.Name]:
			bad("%s.name: %q is declared twice", key, it.Name)
		}
		items[it.Name] = true
		if it.Kind != ItemButton && it.Kind != ItemInvitation {
			bad("%s.kind: %q is not button or invitation", key, it.Kind)
			continue
		}
		checkText := func(variant string, t ItemText) {
			k := key + "." + variant
			for name, s := range map[string]string{"title": t.Title, "text": t.Text, "accept": t.Accept, "decline": t.Decline} {
				long(k+"."+name, s)
			}
			if it.Kind == ItemButton && strings.TrimSpace(t.Text) == "" {
				bad("%s.text: required for a button", k)
			}
			if it.Kind == ItemInvitation {
				for name, s := range map[string]string{"title": t.Title, "accept": t.Accept, "decline": t.Decline} {
					if strings.TrimSpace(s) == "" {
						bad("%s.%s: required for an invitation", k, name)
					}
				}
			}
		}
		checkText("online", it.Online)
		if it.Offline != nil {
			checkText("offline", *it.Offline)
		}
		if s := it.Style; s != nil {
			if s.Position != "" && s.Position != "bottom-right" && s.Position != "bottom-left" {
				bad("%s.style.position: %q is not bottom-right or bottom-left", key, s.Position)
			}
			for name, c := range map[string]string{"color": s.Color, "background": s.Background} {
				if c != "" && !cssColor.MatchString(c) {
					bad("%s.style.%s: %q is not a color like #0a5 or #00aa55", key, name, c)
				}
			}
		}
	}
	triggers := map[string]bool{}
	for i, t := range d.Triggers {
		key := fmt.Sprintf("%s.triggers[%d]", at, i)
		switch {
		case !validID(t.Name):
			bad("%s.name: %q is not a valid name (letters, digits, - and _, at most 64)", key, t.Name)
		case triggers[t.Name]:
			bad("%s.name: %q is declared twice", key, t.Name)
		}
		triggers[t.Name] = true
		switch {
		case t.Action.Show != "" && t.Action.Open != "":
			bad("%s.action: either show or open, not both", key)
		case t.Action.Show != "":
			if !items[t.Action.Show] {
				bad("%s.action.show: no item named %q", key, t.Action.Show)
			}
		case t.Action.Open != "":
			if t.Action.Open != "chat" {
				bad("%s.action.open: %q is not chat", key, t.Action.Open)
			}
		default:
			bad("%s.action: required: {show: <item>} or {open: chat}", key)
		}
		if t.When != nil {
			nodes := 0
			t.When.validate(key+".when", 1, &nodes, bad)
			if nodes > maxCondNodes {
				bad("%s.when: at most %d conditions", key, maxCondNodes)
			}
		}
	}
}

func (c *Condition) validate(key string, depth int, nodes *int, bad func(string, ...any)) {
	*nodes++
	if depth > maxCondDepth {
		bad("%s: conditions nest at most %d deep", key, maxCondDepth)
		return
	}
	switch c.Kind {
	case CondAll, CondAny:
		if len(c.Children) == 0 {
			bad("%s.%s: an empty list", key, c.Kind)
		}
		for i := range c.Children {
			c.Children[i].validate(fmt.Sprintf("%s.%s[%d]", key, c.Kind, i), depth+1, nodes, bad)
		}
	case CondNot:
		if len(c.Children) != 1 {
			bad("%s.not: one condition", key)
			return
		}
		c.Children[0].validate(key+".not", depth+1, nodes, bad)
	case CondURL, CondReferrer:
		if c.Glob == "" {
			bad("%s.%s: an empty pattern", key, c.Kind)
		}
		if len(c.Glob) > 2048 {
			bad("%s.%s: at most 2048 bytes", key, c.Kind)
		}
	case CondTimeOnPage, CondTimeOnSite:
		if c.Duration < 0 || c.Duration > 24*time.Hour {
			bad("%s.%s: %s is not within 0s–24h", key, c.Kind, c.Duration)
		}
	case CondPageViews, CondVisits:
		if !slices.Contains([]string{"=", "!=", "<", "<=", ">", ">="}, c.Op) {
			bad("%s.%s.op: %q is not one of = != < <= > >=", key, c.Kind, c.Op)
		}
		if n, ok := c.Value.(int); !ok || n < 0 {
			bad("%s.%s.value: a count of at least 0", key, c.Kind)
		}
	case CondVar:
		if c.Var == "" || len(c.Var) > 64 {
			bad("%s.var: a variable name (at most 64 characters)", key)
		}
		if !slices.Contains(Ops, c.Op) {
			bad("%s.op: %q is not one of %s", key, c.Op, strings.Join(Ops, " "))
			return
		}
		switch v := c.Value.(type) {
		case nil:
			if c.Op != "exists" {
				bad("%s.value: required for op %s", key, c.Op)
			}
		case int, float64:
			if c.Op == "contains" {
				bad("%s.value: contains takes a string", key)
			}
		case string:
			tooLong(key+".value", v, bad)
			if c.Op == "<" || c.Op == "<=" || c.Op == ">" || c.Op == ">=" {
				bad("%s.value: %s takes a number", key, c.Op)
			}
		case bool:
			if c.Op != "=" && c.Op != "!=" {
				bad("%s.value: a boolean compares with = or != only", key)
			}
		default:
			bad("%s.value: a string, number or boolean", key)
		}
	default:
		bad("%s: %q is not a condition", key, c.Kind)
	}
}

func tooLong(key, s string, bad func(string, ...any)) {
	if utf8.RuneCountInString(s) > maxProactiveText {
		bad("%s: at most %d characters", key, maxProactiveText)
	}
}
