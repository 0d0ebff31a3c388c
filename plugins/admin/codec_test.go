package admin

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
)

func TestCodec_RoundTrip(t *testing.T) {
	d := config.Deployment{
		Key: "shop", Mode: config.ModeAsync, Queue: "support", Origins: []string{"https://shop.example"},
		Identity: config.IdentitySigned, JWTSecret: "0123456789abcdef-secret",
		RestoreTimeout: 90 * time.Second, IdleTimeout: 2 * time.Hour, ThreadInactivity: 1500 * time.Millisecond,
		Files:    config.Files{Enabled: true, MaxBytes: 10 << 20, MaxUploads: 3, Types: []string{"text/plain"}},
		UserData: map[string]any{"brand": "Shop \"quoted\" / é", "tier": 2, "ratio": 1.5, "vip": true, "none": nil, "list": []any{"a", 1}},
	}
	data, err := encodeJSON(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"key":"shop","mode":"async","queue":"support","origins":["https://shop.example"],`) {
		t.Errorf("not in field order with the file's names: %s", data)
	}
	for _, want := range []string{`"restoreTimeout":"1m30s"`, `"threadInactivity":"1.5s"`, `"maxBytes":10485760`, `"tier":2`, `"ratio":1.5`, `"none":null`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %s", data, want)
		}
	}
	var back config.Deployment
	if err := decodeJSON(data, &back); err != nil {
		t.Fatalf("decode own encoding %s: %v", data, err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, d)
	}

	noSecret, err := encodeJSON(d, "jwtSecret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(noSecret), "jwtSecret") || strings.Contains(string(noSecret), d.JWTSecret) {
		t.Errorf("omitted field still there: %s", noSecret)
	}
}

func TestCodec_Decode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // substring of the error; "" for success
	}{
		{"Escapes", `{"key":"a\/b\u00e9\t\"","queue":"q"}`, ""},
		{"Whitespace", "{\n\t\"key\" : \"k\" ,\r\n\t\"origins\": [ ]\n}", ""},
		{"DurationString", `{"key":"k","idleTimeout":"90m"}`, ""},
		{"DurationNumber", `{"key":"k","idleTimeout":60}`, "time.Duration"},
		{"DurationBad", `{"key":"k","idleTimeout":"soon"}`, "soon"},
		{"UnknownField", `{"key":"k","qeue":"q"}`, "field qeue not found"},
		{"Duplicate", `{"key":"k","key":"l"}`, "already defined"},
		{"Array", `["k"]`, "not a JSON object"},
		{"String", `"k"`, "not a JSON object"},
		{"Null", `null`, "not a JSON object"},
		{"Trailing", `{"key":"k"} {}`, "after the object"},
		{"Broken", `{"key":"k"`, "not valid JSON"},
		{"BoolForString", `{"key":true}`, ""}, // YAML's rule, as in the config file
		{"StringForInt", `{"key":"k","files":{"maxBytes":"10"}}`, "cannot unmarshal string `10` into int64"},
		{"ObjectForList", `{"key":"k","origins":{}}`, "cannot unmarshal object into []string"},
		{"NestedUnknown", `{"key":"k","files":{"max":1}}`, "field max not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d config.Deployment
			err := decodeJSON([]byte(tc.in), &d)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("decode %s: %v", tc.in, err)
			case tc.want != "" && err == nil:
				t.Fatalf("decode %s accepted: %+v", tc.in, d)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("decode %s: %v, want it to mention %q", tc.in, err, tc.want)
			case err != nil && (strings.Contains(err.Error(), "line ") || strings.Contains(err.Error(), "!!")):
				t.Errorf("error %q speaks of YAML lines or tags", err)
			}
		})
	}
	var d config.Deployment
	if err := decodeJSON([]byte(`{"key":"a\/b\u00e9\t\""}`), &d); err != nil || d.Key != "a/bé\t\"" {
		t.Errorf("escapes decoded as %q, %v", d.Key, err)
	}
}

func TestWithFields(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, `{"token":"t\""}`},
		{`{"id":"a"}`, `{"id":"a","token":"t\""}`},
	} {
		if got := string(withFields([]byte(tc.in), "token", `t"`)); got != tc.want {
			t.Errorf("withFields(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := string(withFields([]byte(`{"id":"a"}`))); got != `{"id":"a"}` {
		t.Errorf("withFields without fields = %s", got)
	}
}
