package config_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
)

// proactive is DESIGN.md's example deployment, in a file of its own.
const proactive = `
queues:
  - name: support
deployments:
  - key: shop
    queue: support
    enabled: true
    maintenance: false
    display: floating
    variables:
      - {name: cart_amount, selector: "#cart-total", type: number}
    triggers:
      - name: checkout-help
        when: {all: [{url: "*/checkout*"}, {var: cart_amount, op: ">=", value: 100}, {timeOnPage: 20s}]}
        onlyIfAgentsAvailable: true
        action: {show: cart-invite}
      - name: everywhere
        action: {show: chat-button}
    items:
      - name: chat-button
        kind: button
        online: {text: "Chat with us"}
        offline: {text: "Leave a message"}
      - name: cart-invite
        kind: invitation
        online: {title: "Need help with your order?", text: "An agent is ready.", accept: "Chat now", decline: "No thanks"}
        offline: {title: "We are away", text: "Leave us a message.", accept: "Write to us", decline: "Later"}
`

func TestParse_Proactive(t *testing.T) {
	c := mustParse(t, proactive)
	d, _ := c.Deployment("shop")
	if !d.IsEnabled() || d.Maintenance || d.Display != config.DisplayFloating || !d.LoaderActive() {
		t.Errorf("switches: enabled %v maintenance %v display %q", d.IsEnabled(), d.Maintenance, d.Display)
	}
	if len(d.Triggers) != 2 || len(d.Items) != 2 || len(d.Variables) != 1 {
		t.Fatalf("triggers %d items %d variables %d", len(d.Triggers), len(d.Items), len(d.Variables))
	}
	w := d.Triggers[0].When
	if w == nil || w.Kind != config.CondAll || len(w.Children) != 3 {
		t.Fatalf("when = %+v", w)
	}
	if k := w.Children[1]; k.Kind != config.CondVar || k.Var != "cart_amount" || k.Op != ">=" || k.Value != 100 {
		t.Errorf("var condition = %+v", k)
	}
	if k := w.Children[2]; k.Kind != config.CondTimeOnPage || k.Duration != 20*time.Second {
		t.Errorf("timeOnPage = %+v", k)
	}
	if d.Triggers[1].When != nil || d.Triggers[1].Action.Show != "chat-button" {
		t.Errorf("everywhere = %+v", d.Triggers[1])
	}
	// The browser's form: durations in ms, counts always {op, value}.
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"all":[{"url":"*/checkout*"},{"op":"\u003e=","value":100,"var":"cart_amount"},{"timeOnPage":20000}]}`; string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	cnt := mustParse(t, strings.Replace(proactive, "{timeOnPage: 20s}", "{not: {visits: 3}}", 1))
	d, _ = cnt.Deployment("shop")
	b, _ = json.Marshal(d.Triggers[0].When.Children[2])
	if want := `{"not":{"visits":{"op":"\u003e=","value":3}}}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

func TestParse_ProactiveDefaults(t *testing.T) {
	c := mustParse(t, "queues: [{name: q}]\ndeployments:\n  - {key: d, queue: q}\n")
	d := c.Deployments[0]
	if !d.IsEnabled() || d.Enabled == nil || d.Display != config.DisplayFloating || d.Maintenance {
		t.Errorf("defaults: %+v", d)
	}
	c = mustParse(t, "queues: [{name: q}]\ndeployments:\n  - {key: d, queue: q, enabled: false}\n")
	if c.Deployments[0].IsEnabled() || c.Deployments[0].LoaderActive() {
		t.Error("enabled: false is enabled")
	}
}

func TestParse_ProactiveErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		want     []string // substrings of the error; none: valid
	}{
		{"Valid", "", "", nil},
		{"Display", "display: floating", "display: sidebar", []string{"deployments[0].display", `"sidebar"`}},
		{"Embedded", "display: floating", "display: embedded", nil},
		{"Maintenance", "maintenance: false", "maintenance: true\n    maintenanceReason: upgrade", nil},
		{"UnknownKey", "maintenance: false", "maintenance: false\n    maintenanceMessage: x", []string{"maintenanceMessage"}},
		{"ShowUnknownItem", "action: {show: chat-button}", "action: {show: chat-buton}", []string{"deployments[0].triggers[1].action.show", `"chat-buton"`}},
		{"NoAction", "        action: {show: chat-button}", "", []string{"triggers[1].action (line 17): required"}},
		{"ShowAndOpen", "action: {show: chat-button}", "action: {show: chat-button, open: chat}", []string{"triggers[1].action", "not both"}},
		{"OpenChat", "action: {show: chat-button}", "action: {open: chat}", nil},
		{"OpenOther", "action: {show: chat-button}", "action: {open: faq}", []string{"action.open", `"faq"`}},
		{"UnknownActionKey", "action: {show: chat-button}", "action: {hide: chat-button}", []string{"hide"}},
		{"InvitationNoAccept", `accept: "Chat now", `, "", []string{"items[1].online.accept", "invitation"}},
		{"InvitationNoTitle", `{title: "We are away", `, "{", []string{"items[1].offline.title"}},
		{"ButtonNoText", `online: {text: "Chat with us"}`, `online: {title: "Chat with us"}`, []string{"items[0].online.text", "button"}},
		{"ItemKind", "kind: button", "kind: banner", []string{"items[0].kind", `"banner"`}},
		{"ItemTwice", "name: cart-invite", "name: chat-button", []string{"items[1].name", "twice"}},
		{"OfflineOptional", `        offline: {text: "Leave a message"}` + "\n", "", nil},
		{"NoTriggers", "    triggers:\n      - name: checkout-help\n        when: {all: [{url: \"*/checkout*\"}, {var: cart_amount, op: \">=\", value: 100}, {timeOnPage: 20s}]}\n        onlyIfAgentsAvailable: true\n        action: {show: cart-invite}\n      - name: everywhere\n        action: {show: chat-button}\n", "", []string{"deployments[0].triggers", "at least one trigger"}},
		{"TriggerTwice", "name: everywhere", "name: checkout-help", []string{"triggers[1].name", "twice"}},
		{"Duration", "{timeOnPage: 20s}", "{timeOnPage: twenty}", []string{"timeOnPage", `"twenty"`}},
		{"DurationNegative", "{timeOnPage: 20s}", "{timeOnSite: -5s}", []string{"timeOnSite", "0s–24h"}},
		{"Op", `op: ">="`, `op: "=>"`, []string{"triggers[0].when.all[1].op", `"=>"`}},
		{"OpContains", `op: ">=", value: 100`, `op: contains, value: gift`, nil},
		{"OpExists", `op: ">=", value: 100`, `op: exists`, nil},
		{"OpNeedsValue", `op: ">=", value: 100`, `op: "="`, []string{"all[1].value", "required"}},
		{"LessThanString", `value: 100`, `value: lots`, []string{"all[1].value", "number"}},
		{"TwoForms", `{url: "*/checkout*"}`, `{url: "*/checkout*", timeOnPage: 5s}`, []string{"one form", "all"}},
		{"UnknownCondition", `{url: "*/checkout*"}`, `{path: "/checkout"}`, []string{`"path" is not a condition`}},
		{"VarExtraKey", `value: 100}`, `value: 100, unit: eur}`, []string{`not "unit"`}},
		{"PageViewsBare", "{timeOnPage: 20s}", "{pageViews: 3}", nil},
		{"PageViewsOp", "{timeOnPage: 20s}", `{pageViews: {op: "<", value: 3}}`, nil},
		{"PageViewsBadOp", "{timeOnPage: 20s}", `{pageViews: {op: contains, value: 3}}`, []string{"pageViews.op"}},
		{"VisitsNotNumber", "{timeOnPage: 20s}", "{visits: many}", []string{"visits"}},
		{"EmptyAll", `{all: [{url: "*/checkout*"}, {var: cart_amount, op: ">=", value: 100}, {timeOnPage: 20s}]}`, "{all: []}", []string{"when.all (line 14): an empty list"}},
		{"Referrer", `{url: "*/checkout*"}`, `{referrer: "https://search.example/*"}`, nil},
		{"EmptyGlob", `{url: "*/checkout*"}`, `{url: ""}`, []string{"an empty pattern"}},
		{"VarType", "type: number", "type: money", []string{"variables[0].type", `"money"`}},
		{"VarNoSelector", `selector: "#cart-total", `, "", []string{"variables[0].selector", "required"}},
		{"Style", `kind: button`, "kind: button\n        style: {position: bottom-left, color: \"#fff\", background: \"#0055aa\"}", nil},
		{"StyleColor", `kind: button`, "kind: button\n        style: {background: \"red; x: y\"}", []string{"style.background"}},
		{"TooDeep", `{url: "*/checkout*"}`, strings.Repeat("{not: ", 9) + `{url: "x"}` + strings.Repeat("}", 9), []string{"nest at most 8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := proactive
			if tc.old != "" {
				if !strings.Contains(yml, tc.old) {
					t.Fatalf("case does not apply: %q not in the file", tc.old)
				}
				yml = strings.Replace(yml, tc.old, tc.new, 1)
			}
			_, err := config.Parse(strings.NewReader(yml))
			if tc.want == nil {
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
