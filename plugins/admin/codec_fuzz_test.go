package admin

import (
	"testing"

	"github.com/cxgate/cxgate/config"
)

// FuzzDecodeJSON feeds the admin API's body decoder arbitrary bytes for each
// kind it decodes: it must never panic, and whatever it accepts must encode
// and decode back to a value with the same encoding, so a stored entry reads
// as it was written (empty and absent lists both come back as []).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"key":"shop","mode":"async","queue":"sales","origins":["https://shop.example"],"restoreTimeout":"90s","files":{"enabled":true,"maxBytes":1024},"userData":{"a":[1,2.5e3,true,null,{"b":"c"}]}}`,
		`{"name":"sales","skills":["sales"],"language":"en"}`,
		`{"id":"bob","name":"Bob","skills":["sales"],"maxChats":3,"kind":"bot"}`,
		`{"url":"http://127.0.0.1:9000/hook","secret":"s","events":["chat.ended"]}`,
		`{"key":1}`, `{"key":"a","key":"b"}`, `[]`, `{} {}`, `{"userData":{"\u0000":"\ud800"}}`,
		`{"restoreTimeout":"-1h"}`, `{"maxChats":1e400}`, `{"a":{"b":{"c":{"d":[[[[[]]]]]}}}}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip(t, data, &config.Deployment{}, &config.Deployment{})
		roundTrip(t, data, &config.Queue{}, &config.Queue{})
		roundTrip(t, data, &config.Agent{}, &config.Agent{})
		roundTrip(t, data, &config.Webhook{}, &config.Webhook{})
	})
}

func roundTrip[T any](t *testing.T, data []byte, v, back *T) {
	t.Helper()
	if err := decodeJSON(data, v); err != nil {
		return
	}
	enc, err := encodeJSON(*v)
	if err != nil {
		t.Fatalf("%q decoded to %+v, which does not encode: %v", data, *v, err)
	}
	if err := decodeJSON(enc, back); err != nil {
		t.Fatalf("%q decoded to %+v, whose encoding %s does not decode: %v", data, *v, enc, err)
	}
	again, err := encodeJSON(*back)
	if err != nil {
		t.Fatalf("%q: %+v does not encode again: %v", data, *back, err)
	}
	if string(again) != string(enc) {
		t.Fatalf("%q: encodes as %s, then as %s", data, enc, again)
	}
}
