package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cxgate/cxgate/plugins/webhooks"
)

func signedHeader(secret string, ts int64, body []byte) http.Header {
	h := http.Header{}
	h.Set(webhooks.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhooks.HeaderSignature, webhooks.Sign(secret, ts, body))
	return h
}

func TestSign_Scheme(t *testing.T) {
	body := []byte(`{"id":"c:1:chat.started"}`)
	m := hmac.New(sha256.New, []byte("s3cret"))
	fmt.Fprintf(m, "%d.%s", 1700000000, body)
	want := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := webhooks.Sign("s3cret", 1700000000, body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	const secret = "s3cret"
	body := []byte(`{"id":"c:2:message.created","event":"message.created"}`)
	now := time.Unix(1_700_000_000, 0)
	ts := now.Unix()
	other := webhooks.Sign("old-secret", ts, body)

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"OK", signedHeader(secret, ts, body), body, now, nil},
		{"OKWithinTolerance", signedHeader(secret, ts, body), body, now.Add(4 * time.Minute), nil},
		{"OKClockBehind", signedHeader(secret, ts, body), body, now.Add(-4 * time.Minute), nil},
		{"OKRotation", http.Header{webhooks.HeaderSignature: {other + ",v1=" + webhooks.Sign(secret, ts, body)[len("t=1700000000,v1="):]}}, body, now, nil},
		{"TamperedBody", signedHeader(secret, ts, body), append([]byte(nil), `{"id":"c:2:message.created","event":"chat.ended"}`...), now, webhooks.ErrBadSignature},
		{"WrongSecret", signedHeader("guess", ts, body), body, now, webhooks.ErrBadSignature},
		{"Stale", signedHeader(secret, ts, body), body, now.Add(6 * time.Minute), webhooks.ErrStale},
		{"Future", signedHeader(secret, ts, body), body, now.Add(-6 * time.Minute), webhooks.ErrStale},
		{"StaleReplayWithNewTimestamp", http.Header{
			webhooks.HeaderSignature: {"t=" + strconv.FormatInt(ts+600, 10) + webhooks.Sign(secret, ts, body)[len("t=1700000000"):]},
		}, body, now.Add(10 * time.Minute), webhooks.ErrBadSignature},
		{"TimestampHeaderDiffers", func() http.Header {
			h := signedHeader(secret, ts, body)
			h.Set(webhooks.HeaderTimestamp, strconv.FormatInt(ts+1, 10))
			return h
		}(), body, now, webhooks.ErrNoSignature},
		{"NoHeader", http.Header{}, body, now, webhooks.ErrNoSignature},
		{"NoV1", http.Header{webhooks.HeaderSignature: {"t=1700000000"}}, body, now, webhooks.ErrNoSignature},
		{"NoT", http.Header{webhooks.HeaderSignature: {"v1=" + hex.EncodeToString(make([]byte, 32))}}, body, now, webhooks.ErrNoSignature},
		{"BadHex", http.Header{webhooks.HeaderSignature: {"t=1700000000,v1=zz"}}, body, now, webhooks.ErrNoSignature},
		{"TwoTimestamps", http.Header{webhooks.HeaderSignature: {"t=1,t=1700000000,v1=" + hex.EncodeToString(make([]byte, 32))}}, body, now, webhooks.ErrNoSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhooks.Verify(secret, tc.header, tc.body, tc.now, 0)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	// A tolerance of its own.
	if err := webhooks.Verify(secret, signedHeader(secret, ts, body), body, now.Add(2*time.Second), time.Second); !errors.Is(err, webhooks.ErrStale) {
		t.Errorf("Verify with 1 s tolerance, 2 s late = %v, want ErrStale", err)
	}
}

// A receiver checks every request before it trusts it, and de-duplicates on
// the delivery id.
func ExampleVerify() {
	var seen sync.Map // in a real receiver: a table with a unique key
	http.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := webhooks.Verify("hook-secret", r.Header, body, time.Now(), 5*time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, dup := seen.LoadOrStore(r.Header.Get(webhooks.HeaderDelivery), true); !dup {
			// handle body …
		}
		w.WriteHeader(http.StatusNoContent) // any 2xx: delivered
	})
}
