package webhooks

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// FuzzVerify feeds receivers' Verify arbitrary signature headers and bodies:
// it must never panic, must answer with one of its documented errors, and
// must accept only a header that Sign would have written for that body.
func FuzzVerify(f *testing.F) {
	const secret = "hook-secret"
	now := time.Unix(1763730000, 0)
	f.Add(Sign(secret, now.Unix(), []byte(`{"id":"c:1:message.created"}`)), "", []byte(`{"id":"c:1:message.created"}`))
	f.Add("t=1763730000,v1=00", "1763730000", []byte("{}"))
	f.Add("t=1763730000,v0=ab,v1="+Sign(secret, 1, nil)[len("t=1,v1="):], "", []byte(nil))
	f.Add("t=-9223372036854775808,v1=zz", "x", []byte("body"))
	f.Add(",,=,t==,v1", "", []byte("\xff"))
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		h := http.Header{}
		h.Set(HeaderSignature, sig)
		if ts != "" {
			h.Set(HeaderTimestamp, ts)
		}
		err := Verify(secret, h, body, now, time.Minute)
		switch {
		case err == nil:
			t2, _, ok := parseSignature(h.Get(HeaderSignature))
			if !ok {
				t.Fatalf("accepted %q, which does not parse", sig)
			}
			if d := now.Sub(time.Unix(t2, 0)); d > time.Minute || d < -time.Minute {
				t.Fatalf("accepted %q, outside the tolerance", sig)
			}
		case errors.Is(err, ErrNoSignature), errors.Is(err, ErrBadSignature), errors.Is(err, ErrStale):
		default:
			t.Fatalf("Verify(%q, %q): undocumented error %v", sig, ts, err)
		}
	})
}
