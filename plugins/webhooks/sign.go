package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request headers.
const (
	HeaderEvent     = "X-Cxgate-Event"     // "message.created"
	HeaderDelivery  = "X-Cxgate-Delivery"  // the event's stable id
	HeaderWebhook   = "X-Cxgate-Webhook"   // the subscription's id
	HeaderTimestamp = "X-Cxgate-Timestamp" // unix seconds, the same as the signature's t
	HeaderSignature = "X-Cxgate-Signature" // "t=<timestamp>,v1=<hex>"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify; test them with errors.Is.
var (
	// ErrNoSignature is a request without a well-formed signature header.
	ErrNoSignature = errors.New("webhooks: no well-formed signature")
	// ErrBadSignature is a signature that does not match the body, the
	// timestamp and the secret.
	ErrBadSignature = errors.New("webhooks: signature does not match")
	// ErrStale is a correctly signed request whose timestamp is outside the
	// tolerance: possibly a replay.
	ErrStale = errors.New("webhooks: timestamp outside the tolerance")
)

// Sign returns the X-Cxgate-Signature value for body sent at unix time ts.
func Sign(secret string, ts int64, body []byte) string {
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a webhook request as a receiver: that its signature is the
// HMAC-SHA256 of "<timestamp>.<body>" under secret, and that its timestamp is
// within tolerance of now (DefaultTolerance when tolerance ≤ 0). Several v1
// values may be given (any one matching is enough); X-Cxgate-Timestamp, when
// present, must equal the signature's t. Pass the body exactly as received.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, sigs, ok := parseSignature(header.Get(HeaderSignature))
	if !ok {
		return ErrNoSignature
	}
	if h := header.Get(HeaderTimestamp); h != "" && h != strconv.FormatInt(ts, 10) {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	match := false
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			match = true
		}
	}
	if !match {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// parseSignature reads "t=<ts>,v1=<hex>[,v1=<hex>…]"; unknown keys are
// skipped, so a later scheme can be sent beside v1.
func parseSignature(v string) (ts int64, sigs [][]byte, ok bool) {
	seenT := false
	for part := range strings.SplitSeq(v, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return 0, nil, false
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || seenT {
				return 0, nil, false
			}
			ts, seenT = n, true
		case "v1":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != sha256.Size {
				return 0, nil, false
			}
			sigs = append(sigs, b)
		}
	}
	return ts, sigs, seenT && len(sigs) > 0
}
