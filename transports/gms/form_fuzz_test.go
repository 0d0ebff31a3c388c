package gms

import (
	"reflect"
	"testing"

	"github.com/cxgate/cxgate/bus"
)

// FuzzDecodeForm: any body either decodes into a form within the limits or
// is refused with invalid_request; a decoded form encodes to a body that
// decodes to the same form (names, values and userData keys survive).
func FuzzDecodeForm(f *testing.F) {
	for _, s := range []string{
		"nickname=Rita&firstName=Rita&lastName=Ray&emailAddress=rita%40example.com&subject=billing&text=&alias=&secureKey=&userId=" +
			"&userData%5BGCTI_LanguageCode%5D=en&userData%5B_genesys_url%5D=https%3A%2F%2Fshop.example%2F&userData%5Bpage%5D=%2Fpricing",
		"message=hi+there&messageType=text&userId=u1&secureKey=k&alias=1",
		"userId=u1&secureKey=k&alias=1&transcriptPosition=-1&message=",
		"userData[a]=1&userData[a]=2&userData[]=x&userData[b][c]=3&userData[=4",
		"=x&&&a&b=&%zz=%&c=%2",
		"userData%5B%5D%5D=odd",
		"",
		"\xff\x00=\x01",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fm, err := decodeURLEncoded(body)
		if err != nil {
			if got := bus.CodeOf(err); got != bus.CodeInvalidRequest {
				t.Fatalf("error code %q, want invalid_request", got)
			}
			return
		}
		if n := len(fm.Fields) + len(fm.UserData); n > maxFields {
			t.Fatalf("%d parameters decoded, limit %d", n, maxFields)
		}
		for k := range fm.Fields {
			if k == "" || len(k) > maxKeyBytes {
				t.Fatalf("field name %q", k)
			}
		}
		for k := range fm.UserData {
			if k == "" {
				t.Fatal("empty userData key")
			}
		}
		again, err := decodeURLEncoded(fm.encode())
		if err != nil {
			t.Fatalf("re-decode of own encoding: %v", err)
		}
		if !reflect.DeepEqual(fm, again) {
			t.Fatalf("round trip changed the form:\n got %+v\nwant %+v", again, fm)
		}
		// The same parameters as a multipart form decode alike.
		vals := map[string][]string{}
		for k, v := range fm.Fields {
			vals[k] = []string{v}
		}
		for k, v := range fm.UserData {
			vals["userData["+k+"]"] = []string{v}
		}
		mp, err := decodeValues(vals)
		if err != nil || !reflect.DeepEqual(fm, mp) {
			t.Fatalf("multipart values decode to %+v (%v), want %+v", mp, err, fm)
		}
	})
}
