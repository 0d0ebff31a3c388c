package native

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/bus"
)

// seedFrames are real frames of docs/wire.md plus the shapes the decoder
// must refuse; every testdata/frames/*.json is added too.
var seedFrames = []string{
	`{"id":0,"auth":{"token":"t","after":12}}`,
	`{"auth":{"token":"t","after":null}}`,
	`{"id":1,"command":"WebChatService.sendMessage","options":{"message":"hi"}}`,
	`{"id":"x","command":"WebChatService.endChat","options":null}`,
	`{"deployment":"demo","command":"WebChatService.startChat","options":{"userData":{"a":[1,2.5e3,true,null]}}}`,
	`{"ping":123}`,
	`{"id":"\u0001\"","ping":{"t":"\ud83d\ude00"}}`,
	`{}`, `[]`, `{"id":"x","command":1}`, `{"id":NaN,"ping":1}`, `{"auth":{"token":"t","after":-1}}`,
	"\xff", `{"command":"P.c","options":{"m":"\ud800"}}`,
}

func addSeedFrames(f *testing.F) {
	for _, s := range seedFrames {
		f.Add([]byte(s))
	}
	files, err := filepath.Glob(filepath.Join("testdata", "frames", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seed frames in testdata/frames")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimSpace(data))
	}
}

// clobber is parsed between a decode and the checks on its result: a result
// that still points into the parser's buffers changes.
const clobber = `{"id":"zzzzzzzzzzzzzzzz","deployment":"zzzzzzzz","command":"Z.zzzzzzzzzzzz","options":{"zzzz":"zzzzzzzzzzzzzzzzzzzz"},"auth":{"token":"zzzzzzzzzzzz"},"ping":"zzzz"}`

func FuzzDecodeFrame(f *testing.F) {
	addSeedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p fastjson.Parser
		in := bytes.Clone(data)
		fr, err := decodeFrame(&p, in)
		if err != nil {
			mustInvalid(t, err)
			return
		}
		n := 0
		for _, set := range []bool{fr.Command != nil, fr.Auth != nil, fr.Ping != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%q decoded to %s: want exactly one of Command, Auth, Ping", data, fmtFrame(fr))
		}
		enc := fr.AppendJSON(nil)
		mustValidJSON(t, enc)
		// What the socket sends back with the frame's id and ping.
		mustValidJSON(t, appendReply(nil, fr.ID, []byte(`{}`), nil))
		if fr.Ping != nil {
			mustValidJSON(t, append(append([]byte(`{"pong":`), fr.Ping...), '}'))
		}
		if fr.Command != nil && fr.Command.Options != nil {
			mustValidJSON(t, fr.Command.Options)
		}

		// Neither the input buffer nor the parser may be shared.
		for i := range in {
			in[i] = 'z'
		}
		if _, err := p.Parse(clobber); err != nil {
			t.Fatal(err)
		}
		if got := fr.AppendJSON(nil); !bytes.Equal(got, enc) {
			t.Fatalf("frame of %q changed when its input and parser were reused:\n got %s\nwant %s", data, got, enc)
		}

		again, err := decodeFrame(&p, enc) // same parser: catches aliasing
		if err != nil {
			t.Fatalf("re-decode of own encoding %s (from %q): %v", enc, data, err)
		}
		if !reflect.DeepEqual(fr, again) {
			t.Fatalf("round trip changed frame:\n got %s\nwant %s", fmtFrame(again), fmtFrame(fr))
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	addSeedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p fastjson.Parser
		in := bytes.Clone(data)
		c, err := decodeCommand(&p, in)
		if err != nil {
			mustInvalid(t, err)
			return
		}
		if c.ID != nil {
			t.Fatalf("HTTP command of %q has an id %q", data, c.ID)
		}
		if c.Options != nil {
			mustValidJSON(t, c.Options)
		}
		// An HTTP body is a command frame without id.
		enc := Frame{Command: &c}.AppendJSON(nil)
		mustValidJSON(t, enc)

		for i := range in {
			in[i] = 'z'
		}
		if _, err := p.Parse(clobber); err != nil {
			t.Fatal(err)
		}
		if got := (Frame{Command: &c}).AppendJSON(nil); !bytes.Equal(got, enc) {
			t.Fatalf("command of %q changed when its input and parser were reused:\n got %s\nwant %s", data, got, enc)
		}

		again, err := decodeCommand(&p, enc)
		if err != nil {
			t.Fatalf("re-decode of own encoding %s (from %q): %v", enc, data, err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed command:\n got %+v\nwant %+v", again, c)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "hello", `"quoted" \ back`, "\x00\x01\x1f\x7f", "\n\r\t", "é☃😀",
		"\u2028\u2029", "\xff\xfe", "\xed\xa0\x80", `\ud800`, "</script>", "a\"b\\c\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString([]byte("x"), s)
		if out[0] != 'x' {
			t.Fatal("appendString overwrote dst")
		}
		out = out[1:]
		mustValidJSON(t, out)

		// fastjson gives back the exact bytes, valid UTF-8 or not.
		var p fastjson.Parser
		v, err := p.ParseBytes(out)
		if err != nil {
			t.Fatalf("fastjson: %v", err)
		}
		if got := string(v.GetStringBytes()); got != s {
			t.Fatalf("fastjson decodes %s to %q, want %q", out, got, s)
		}
		if !utf8.ValidString(s) {
			return
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if got != s {
			t.Fatalf("encoding/json decodes %s to %q, want %q", out, got, s)
		}
	})
}

// TestFuzzErrorsAreRejections pins the property the fuzzers rely on: a
// decode error is a *bus.Rejection, never a bare parser error.
func TestFuzzErrorsAreRejections(t *testing.T) {
	var p fastjson.Parser
	_, err := decodeFrame(&p, []byte("{"))
	if got := bus.CodeOf(err); got != bus.CodeInvalidRequest {
		t.Fatalf("CodeOf = %q, want invalid_request", got)
	}
}
