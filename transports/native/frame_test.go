package native

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/bus"
)

// mustInvalid checks that err is a *bus.Rejection with code invalid_request
// and status 400.
func mustInvalid(t testing.TB, err error) {
	t.Helper()
	var r *bus.Rejection
	if !errors.As(err, &r) {
		t.Fatalf("err = %v (%T), want a *bus.Rejection", err, err)
	}
	if r.Code != bus.CodeInvalidRequest || r.Status != http.StatusBadRequest {
		t.Fatalf("rejection = %q/%d (%v), want invalid_request/400", r.Code, r.Status, err)
	}
	if r.Message == "" || strings.Contains(r.Message, "cannot parse") {
		t.Fatalf("message %q: want our own text, not the parser's", r.Message)
	}
}

// mustValidJSON fails unless b is valid JSON for both parsers the gateway
// and its clients use.
func mustValidJSON(t testing.TB, b []byte) {
	t.Helper()
	if err := fastjson.ValidateBytes(b); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON for encoding/json: %q", b)
	}
}

func TestDecodeFrame(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Frame
	}{
		{"Auth", `{"id":0,"auth":{"token":"tok","after":12}}`,
			Frame{ID: []byte("0"), Auth: &Auth{Token: "tok", After: 12}}},
		{"AuthNoAfter", `{"auth":{"token":"tok"}}`, Frame{Auth: &Auth{Token: "tok"}}},
		{"AuthNullAfter", `{"auth":{"token":"","after":null}}`, Frame{Auth: &Auth{Token: ""}}},
		{"AuthMaxAfter", `{"auth":{"token":"t","after":18446744073709551615}}`,
			Frame{Auth: &Auth{Token: "t", After: 1<<64 - 1}}},
		{"AuthExtraKeys", `{"auth":{"token":"t","after":1,"x":[1]},"y":{}}`, Frame{Auth: &Auth{Token: "t", After: 1}}},
		{"AuthLongToken", `{"auth":{"token":"` + strings.Repeat("t", 512) + `"}}`, Frame{Auth: &Auth{Token: strings.Repeat("t", 512)}}},
		{"Command", `{"id":7,"command":"WebChatService.sendMessage","options":{"message":"hi"}}`,
			Frame{ID: []byte("7"), Command: &Command{ID: []byte("7"), Name: "WebChatService.sendMessage", Options: []byte(`{"message":"hi"}`)}}},
		{"CommandStringID", `{"id":"a-1","command":"P.c"}`,
			Frame{ID: []byte(`"a-1"`), Command: &Command{ID: []byte(`"a-1"`), Name: "P.c"}}},
		{"CommandEscapedID", `{"id":"\u0001\"\\\u00e9","command":"P.c"}`,
			Frame{ID: []byte(`"\u0001\"\\é"`), Command: &Command{ID: []byte(`"\u0001\"\\é"`), Name: "P.c"}}},
		{"CommandNoID", `{"command":"P.c","options":{}}`, Frame{Command: &Command{Name: "P.c", Options: []byte(`{}`)}}},
		{"CommandNullOptions", `{"command":"P.c","options":null}`, Frame{Command: &Command{Name: "P.c"}}},
		{"CommandDeployment", `{"deployment":"demo","command":"P.c"}`, Frame{Command: &Command{Deployment: "demo", Name: "P.c"}}},
		{"CommandOptionsCompacted", "{\"command\":\"P.c\",\"options\": { \"a\" : [ 1 , \"x\\n\" ] } }",
			Frame{Command: &Command{Name: "P.c", Options: []byte(`{"a":[1,"x\n"]}`)}}},
		{"CommandEscapedKeys", `{"comm\u0061nd":"P.\u0063","\u006fptions":{"k\u0065y":"v\u00e9"}}`,
			Frame{Command: &Command{Name: "P.c", Options: []byte(`{"k\u0065y":"v\u00e9"}`)}}},
		{"CommandDuplicateKey", `{"command":"P.c","command":"Q.d"}`, Frame{Command: &Command{Name: "P.c"}}},
		{"CommandLongName", `{"command":"P.` + strings.Repeat("c", 126) + `"}`, Frame{Command: &Command{Name: "P." + strings.Repeat("c", 126)}}},
		{"Ping", `{"ping":123}`, Frame{Ping: []byte("123")}},
		{"PingNull", `{"ping":null}`, Frame{Ping: []byte("null")}},
		{"PingObject", `{"id":3,"ping":{ "t" : "x" }}`, Frame{ID: []byte("3"), Ping: []byte(`{"t":"x"}`)}},
		{"AuthWinsOverPing", `{"ping":1,"auth":{"token":"t"}}`, Frame{Auth: &Auth{Token: "t"}}},
		{"Whitespace", " \t\r\n{\"ping\":1}\n", Frame{Ping: []byte("1")}},
		{"NumberIDs", `{"id":-1.5e+10,"ping":0}`, Frame{ID: []byte("-1.5e+10"), Ping: []byte("0")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p fastjson.Parser
			got, err := decodeFrame(&p, []byte(tc.in))
			if err != nil {
				t.Fatalf("decodeFrame(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decodeFrame(%s)\n got %s\nwant %s", tc.in, fmtFrame(got), fmtFrame(tc.want))
			}
			enc := got.AppendJSON(nil)
			mustValidJSON(t, enc)
			again, err := decodeFrame(&p, enc)
			if err != nil {
				t.Fatalf("re-decode %s: %v", enc, err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip of %s\n got %s\nwant %s", enc, fmtFrame(again), fmtFrame(got))
			}
		})
	}
}

func TestDecodeFrame_Invalid(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"Empty", ``},
		{"Space", ` `},
		{"NotUTF8", "\xff"},
		{"Truncated", `{"command":"P.c"`},
		{"Trailing", `{"command":"P.c"} x`},
		{"TwoObjects", `{"command":"P.c"}{}`},
		{"Array", `[]`},
		{"String", `"P.c"`},
		{"Number", `1`},
		{"Null", `null`},
		{"NoCommand", `{}`},
		{"OnlyID", `{"id":1}`},
		{"CommandNumber", `{"command":1}`},
		{"CommandNull", `{"command":null}`},
		{"CommandEmpty", `{"command":""}`},
		{"CommandNoDot", `{"command":"sendMessage"}`},
		{"CommandTwoDots", `{"command":"A.b.c"}`},
		{"CommandTooLong", `{"command":"P.` + strings.Repeat("c", 127) + `"}`},
		{"OptionsArray", `{"command":"P.c","options":[]}`},
		{"OptionsString", `{"command":"P.c","options":"{}"}`},
		{"OptionsNumber", `{"command":"P.c","options":1}`},
		{"DeploymentNumber", `{"command":"P.c","deployment":1}`},
		{"DeploymentNull", `{"command":"P.c","deployment":null}`},
		{"DeploymentTooLong", `{"command":"P.c","deployment":"` + strings.Repeat("d", 129) + `"}`},
		{"IDTrue", `{"id":true,"command":"P.c"}`},
		{"IDNull", `{"id":null,"command":"P.c"}`},
		{"IDObject", `{"id":{},"command":"P.c"}`},
		{"IDArray", `{"id":[1],"ping":1}`},
		{"IDTooLong", `{"id":"` + strings.Repeat("x", 63) + `","ping":1}`},
		{"IDEscapedTooLong", `{"id":"` + strings.Repeat(`\u0001`, 11) + `","ping":1}`},
		{"AuthNull", `{"auth":null}`},
		{"AuthString", `{"auth":"tok"}`},
		{"AuthNoToken", `{"auth":{}}`},
		{"AuthTokenNumber", `{"auth":{"token":1}}`},
		{"AuthTokenTooLong", `{"auth":{"token":"` + strings.Repeat("t", 513) + `"}}`},
		{"AuthAfterNegative", `{"auth":{"token":"t","after":-1}}`},
		{"AuthAfterFraction", `{"auth":{"token":"t","after":1.5}}`},
		{"AuthAfterString", `{"auth":{"token":"t","after":"12"}}`},
		{"AuthAfterOverflow", `{"auth":{"token":"t","after":18446744073709551616}}`},
		{"PingTooLong", `{"ping":"` + strings.Repeat("p", 63) + `"}`},
		// fastjson's parser takes these; JSON does not, and we would echo
		// them back or forward them to plugins.
		{"NaNID", `{"id":NaN,"command":"P.c"}`},
		{"InfPing", `{"ping":-Inf}`},
		{"BadNumberID", `{"id":1-2,"command":"P.c"}`},
		{"LeadingZeroID", `{"id":012,"command":"P.c"}`},
		{"NaNOption", `{"command":"P.c","options":{"n":nan}}`},
		{"BadNumberOption", `{"command":"P.c","options":{"n":.5}}`},
		{"RawControlChar", "{\"command\":\"P.c\",\"options\":{\"m\":\"a\x01b\"}}"},
		{"RawNewlineInPing", "{\"ping\":\"a\nb\"}"},
		{"ControlBeforeEscape", "{\"ping\":{\"k\":\"\x1c\\b\"}}"}, // fastjson.Validate takes it
		{"BadEscapeInOptions", `{"command":"P.c","options":{"m":"\q"}}`},
		{"ShortUnicodeEscape", `{"command":"P.c","options":{"m":"\u12"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p fastjson.Parser
			f, err := decodeFrame(&p, []byte(tc.in))
			if err == nil {
				t.Fatalf("decodeFrame(%q) = %s, want an error", tc.in, fmtFrame(f))
			}
			mustInvalid(t, err)
		})
	}
}

func TestDecodeCommand(t *testing.T) {
	var p fastjson.Parser
	for _, tc := range []struct {
		name, in string
		want     Command
	}{
		{"StartChat", `{"deployment":"demo","command":"WebChatService.startChat","options":{"nickname":"Jo"}}`,
			Command{Deployment: "demo", Name: "WebChatService.startChat", Options: []byte(`{"nickname":"Jo"}`)}},
		{"NoOptions", `{"command":"WebChatService.endChat"}`, Command{Name: "WebChatService.endChat"}},
		{"IDIgnored", `{"id":7,"command":"P.c"}`, Command{Name: "P.c"}},
		{"EscapedName", `{"command":"P.\"c\u0000"}`, Command{Name: "P.\"c\x00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeCommand(&p, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, in := range []string{``, `[]`, `"x"`, `{}`, `{"command":"x"}`, `{"command":"P.c","options":[]}`,
		`{"command":"P.c","deployment":false}`, `{"command":"P.c","options":{"a":NaN}}`, `{"command":"P.c"`, "\x00"} {
		t.Run("Invalid", func(t *testing.T) {
			c, err := decodeCommand(&p, []byte(in))
			if err == nil {
				t.Fatalf("decodeCommand(%q) = %+v, want an error", in, c)
			}
			mustInvalid(t, err)
		})
	}
}

// TestDecode_Copies checks that what the decoders return survives the next
// parse with the same parser and the reuse of the input buffer.
func TestDecode_Copies(t *testing.T) {
	var p fastjson.Parser
	in := []byte(`{"id":"x\n","deployment":"demo","command":"P.c\t","options":{"m":"hello"}}`)
	f, err := decodeFrame(&p, in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCommand(&p, in)
	if err != nil {
		t.Fatal(err)
	}
	before := string(f.AppendJSON(nil))
	cBefore := c
	cBefore.Options = append([]byte(nil), c.Options...)
	for i := range in {
		in[i] = 'z'
	}
	if _, err := p.Parse(`{"id":"yyyyyyy","deployment":"xxxx","command":"Q.dddd","options":{"m":"bye!!"}}`); err != nil {
		t.Fatal(err)
	}
	if after := string(f.AppendJSON(nil)); after != before {
		t.Errorf("frame changed after the parser was reused:\n got %s\nwant %s", after, before)
	}
	if !reflect.DeepEqual(c, cBefore) {
		t.Errorf("command changed after the parser was reused: %+v, want %+v", c, cBefore)
	}
}

func TestFrame_AppendJSON(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{Frame{Auth: &Auth{Token: "t\"k", After: 3}}, `{"auth":{"token":"t\"k","after":3}}`},
		{Frame{ID: []byte("1"), Auth: &Auth{}}, `{"id":1,"auth":{"token":"","after":0}}`},
		{Frame{Ping: []byte(`"x"`)}, `{"ping":"x"}`},
		{Frame{ID: []byte(`"a"`), Command: &Command{Name: "P.c"}}, `{"id":"a","command":"P.c"}`},
		{Frame{Command: &Command{Name: "P.c", Deployment: "d", Options: []byte(`{"a":1}`)}},
			`{"command":"P.c","deployment":"d","options":{"a":1}}`},
		{Frame{}, `{}`},
	} {
		got := tc.f.AppendJSON([]byte("prefix:"))
		if string(got) != "prefix:"+tc.want {
			t.Errorf("AppendJSON(%s) = %s, want prefix:%s", fmtFrame(tc.f), got, tc.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"hello", `"hello"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\n\r\t\b\f", `"\u000a\u000d\u0009\u0008\u000c"`},
		{"\x00\x1f", `"\u0000\u001f"`},
		{"\x7f/<>&", "\"\x7f/<>&\""},
		{"é☃😀\u2028", "\"é☃😀\u2028\""},
		{"\xff", "\"\xff\""}, // bytes pass through: the output stays valid to parsers
	} {
		got := appendString(nil, tc.in)
		if string(got) != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		mustValidJSON(t, got)
	}
}

func TestAppendEvent(t *testing.T) {
	for _, tc := range []struct {
		ev   bus.Event
		want string
	}{
		{bus.Event{Name: "WebChatService.messageReceived", Seq: 12, Data: []byte(`{"messages":[]}`)},
			`{"event":"WebChatService.messageReceived","seq":12,"data":{"messages":[]}}`},
		{bus.Event{Name: "WebChatService.agentTypingStarted"}, `{"event":"WebChatService.agentTypingStarted","seq":0,"data":{}}`},
		{bus.Event{Name: `P."e"`, Seq: 1<<64 - 1, Data: []byte(`[]`)}, `{"event":"P.\"e\"","seq":18446744073709551615,"data":[]}`},
	} {
		got := appendEvent(nil, tc.ev)
		if string(got) != tc.want {
			t.Errorf("appendEvent = %s, want %s", got, tc.want)
		}
		mustValidJSON(t, got)
	}

	units := []bus.Event{
		{Name: "P.a", Seq: 1, With: []bus.Event{{Name: "P.b", Seq: 1}}},
		{Name: "P.c", Seq: 2},
	}
	got := "[" + string(appendUnits(nil, units)) + "]"
	want := `[{"event":"P.a","seq":1,"data":{}},{"event":"P.b","seq":1,"data":{}},{"event":"P.c","seq":2,"data":{}}]`
	if got != want {
		t.Errorf("appendUnits = %s, want %s", got, want)
	}
	if got := appendUnits(nil, nil); len(got) != 0 {
		t.Errorf("appendUnits(nil) = %q", got)
	}
}

func TestAppendReply(t *testing.T) {
	noSession := bus.Reject(http.StatusConflict, "no_active_session", "There is no active chat session.")
	for _, tc := range []struct {
		name     string
		id, data []byte
		rej      *bus.Rejection
		want     string
	}{
		{"Resolved", nil, []byte(`{"seq":3}`), nil, `{"status":"resolved","data":{"seq":3}}`},
		{"ResolvedID", []byte("7"), []byte(`{}`), nil, `{"id":7,"status":"resolved","data":{}}`},
		{"Rejected", nil, nil, noSession,
			`{"status":"rejected","error":{"code":"no_active_session","message":"There is no active chat session."}}`},
		{"RejectedID", []byte(`"x"`), []byte(`{"ignored":1}`), bus.ErrVetoed,
			`{"id":"x","status":"rejected","error":{"code":"vetoed","message":"Command was cancelled by a 'before' function."}}`},
		{"CauseNotSent", nil, nil, bus.ErrInternal.Wrap(errors.New("secret path")),
			`{"status":"rejected","error":{"code":"internal","message":"Internal error."}}`},
		{"QuotedMessage", nil, nil, bus.Reject(400, "x", `say "hi"\`), `{"status":"rejected","error":{"code":"x","message":"say \"hi\"\\"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := appendReply(nil, tc.id, tc.data, tc.rej)
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			mustValidJSON(t, got)
		})
	}
}

func fmtFrame(f Frame) string {
	var b strings.Builder
	b.WriteString("{ID:" + string(f.ID))
	if f.Auth != nil {
		b.WriteString(" Auth:" + strings.TrimSpace(strings.ReplaceAll(string(mustMarshal(f.Auth)), "\n", "")))
	}
	if f.Ping != nil {
		b.WriteString(" Ping:" + string(f.Ping))
	}
	if f.Command != nil {
		b.WriteString(" Command:{ID:" + string(f.Command.ID) + " Deployment:" + f.Command.Deployment +
			" Name:" + f.Command.Name + " Options:" + string(f.Command.Options) + "}")
	}
	return b.String() + "}"
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(err.Error())
	}
	return b
}
