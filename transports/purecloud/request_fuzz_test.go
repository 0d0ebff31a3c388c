package purecloud

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// wantInvalid fails unless err is the invalid_request rejection, 400.
func wantInvalid(t *testing.T, err error) {
	t.Helper()
	if rej := bus.AsRejection(err); rej.Code != bus.CodeInvalidRequest || rej.Status != 400 {
		t.Fatalf("error %v, want invalid_request 400", err)
	}
}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		// What the widget sends.
		`{"deploymentId":"demo","organizationId":"org","routingTarget":{"targetAddress":"support","targetType":"QUEUE"},"memberInfo":{"displayName":"Rita","role":"CUSTOMER","customFields":{"firstName":"Rita","lastName":"Ng","email":"r@example.com","subject":"Order","_genesys_source":"web"}}}`,
		// The SDK's top-level GuestMemberInfo fields.
		`{"deploymentId":"demo","memberInfo":{"displayName":"Rita","firstName":"Rita","lastName":"Ng","email":"r@example.com","phoneNumber":"+1","avatarImageUrl":"https://x/a.png"},"routingTarget":{"targetType":"QUEUE","targetAddress":"support","skills":["en"],"language":"en","priority":3}}`,
		`{"deploymentId":"demo","memberInfo":{"displayName":"X","customFields":{"n":1,"b":true,"o":{}}}}`,
		`{"deploymentId":"demo","routingTarget":{"targetType":"USER"},"memberInfo":{"displayName":"X"}}`,
		`{"deploymentId":"","memberInfo":{"displayName":"X"}}`,
		`{"deploymentId":"demo"}`, `{"deploymentId":1}`, `{}`, `[]`, `null`, ``, "\xff", `{"deploymentId":"d\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCreate(data)
		if err != nil {
			wantInvalid(t, err)
			return
		}
		if c.Deployment == "" || len(c.Deployment) > maxField || c.DisplayName == "" {
			t.Fatalf("decoded %+v from %q", c, data)
		}
		// The options are startChat's: they encode as a JSON object with
		// the display name as the nickname.
		enc, err := json.Marshal(c.Options)
		if err != nil {
			t.Fatalf("options %+v: %v", c.Options, err)
		}
		var o contract.StartChatOptions
		if err := json.Unmarshal(enc, &o); err != nil {
			t.Fatalf("options %s: %v", enc, err)
		}
		if o.Nickname != c.DisplayName {
			t.Fatalf("nickname %q, display name %q", o.Nickname, c.DisplayName)
		}
		// Decoding is a function of the bytes.
		again, err := decodeCreate(data)
		if err != nil {
			t.Fatalf("second decode: %v", err)
		}
		if encAgain, _ := json.Marshal(again.Options); string(encAgain) != string(enc) {
			t.Fatalf("second decode: %s vs %s", encAgain, enc)
		}
	})
}

func FuzzDecodeSend(f *testing.F) {
	for _, s := range []string{
		`{"body":"hello"}`, `{"body":"hello","bodyType":"standard"}`, `{"body":"","bodyType":"notice"}`,
		`{"body":null}`, `{"body":1}`, `{"bodyType":"standard"}`, `{"body":"\ud800"}`, `{}`, `[]`, ``, "\xff",
		`{"body":"a","body":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := decodeSend(data)
		if err != nil {
			wantInvalid(t, err)
			return
		}
		// What was sent comes back as the same JSON string.
		var back struct {
			Body string `json:"body"`
		}
		enc, _ := json.Marshal(map[string]string{"body": body})
		if err := json.Unmarshal(enc, &back); err != nil || back.Body != body {
			t.Fatalf("body %q does not survive a round trip: %v", body, err)
		}
	})
}

func FuzzPage(f *testing.F) {
	for _, s := range [][4]string{
		{"", "", "", ""}, {"3", "", "", "2"}, {"", "9", "descending", "3"}, {"2", "8", "ascending", "100"},
		{"", "", "DESCENDING", "1000"}, {"x", "", "", ""}, {"", "", "up", ""}, {"", "", "", "0"}, {"0", "", "", ""},
		{"18446744073709551615", "", "", "-1"},
	} {
		f.Add(s[0], s[1], s[2], s[3], uint8(12))
	}
	f.Fuzz(func(t *testing.T, after, before, order, maxResults string, n uint8) {
		q, err := parsePageQuery(after, before, order, maxResults)
		if err != nil {
			wantInvalid(t, err)
			return
		}
		if q.Max < 1 || q.Max > maxPage {
			t.Fatalf("max %d", q.Max)
		}
		// ids 2, 4, … of a transcript with gaps (events guests do not see).
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = uint64(2 * (i + 1))
		}
		sel, next, prev := page(ids, q)
		if len(sel) > q.Max {
			t.Fatalf("page of %d, max %d", len(sel), q.Max)
		}
		var in []uint64
		for _, id := range ids {
			if (q.After == 0 || id > q.After) && (q.Before == 0 || id < q.Before) {
				in = append(in, id)
			}
		}
		if !slices.IsSortedFunc(sel, func(a, b uint64) int {
			if q.Descending {
				a, b = b, a
			}
			return int(int64(a) - int64(b))
		}) {
			t.Fatalf("page %v not in order (descending %v)", sel, q.Descending)
		}
		for _, id := range sel {
			if !slices.Contains(in, id) {
				t.Fatalf("page %v has %d outside the range of %+v", sel, id, q)
			}
		}
		// Following next from here reaches every id of the range once.
		seen := slices.Clone(sel)
		for cur := next; cur != nil; {
			var more []uint64
			more, cur, _ = page(ids, *cur)
			if len(more) == 0 {
				t.Fatalf("next led to an empty page")
			}
			seen = append(seen, more...)
		}
		want := slices.Clone(in)
		if q.Descending {
			slices.Reverse(want)
		}
		if !slices.Equal(seen, want) {
			t.Fatalf("following next from %+v saw %v, want %v", q, seen, want)
		}
		// previous points the other way from this page.
		if prev != nil && len(sel) > 0 {
			p, _, _ := page(ids, *prev)
			for _, id := range p {
				if slices.Contains(sel, id) {
					t.Fatalf("previous page %v overlaps %v", p, sel)
				}
			}
		}
		if len(sel) == 0 && (next != nil || prev != nil) {
			t.Fatalf("empty page with links")
		}
		if len(in) == 0 && len(sel) != 0 {
			t.Fatalf("page %v of an empty range", sel)
		}
		// The links' query reads back as the query it encodes.
		v, err := url.ParseQuery(strings.TrimPrefix(q.encode(), "?"))
		if err != nil {
			t.Fatal(err)
		}
		back, err := parsePageQuery(v.Get("after"), v.Get("before"), v.Get("sortOrder"), v.Get("maxResults"))
		if err != nil || back != q {
			t.Fatalf("query %+v encodes as %s, reads back as %+v: %v", q, q.encode(), back, err)
		}
	})
}
