package webchat

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/store"
)

// Identity rejections.
var (
	ErrIdentityRequired = bus.Reject(http.StatusUnauthorized, "identity_required", "This deployment requires a signed identity: identity.jwt with the visitor's uuid.")
	ErrIdentityInvalid  = bus.Reject(http.StatusUnauthorized, "identity_invalid", "The identity signature is not valid.")
	ErrIdentityExpired  = bus.Reject(http.StatusUnauthorized, "identity_expired", "The identity signature has expired.")
	ErrIdentityOptions  = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "identity must be an object with uuid, jwt, nickname, firstname, lastname, email, avatar and extra.")
)

// identityOptions is the identity part of startChat and identify.
type identityOptions struct {
	UUID      string          `json:"uuid"`
	JWT       string          `json:"jwt"`
	Nickname  string          `json:"nickname"`
	Firstname string          `json:"firstname"`
	Lastname  string          `json:"lastname"`
	Email     string          `json:"email"`
	Avatar    string          `json:"avatar"`
	Extra     json.RawMessage `json:"extra"`
}

func (o identityOptions) validate(maxExtra int) error {
	for _, f := range []string{o.UUID, o.Nickname, o.Firstname, o.Lastname, o.Email} {
		if len(f) > 256 {
			return ErrIdentityOptions
		}
	}
	if len(o.Avatar) > 2048 || len(o.JWT) > 4096 {
		return ErrIdentityOptions
	}
	if len(o.Extra) > 0 && string(o.Extra) != "null" {
		if len(o.Extra) > maxExtra || o.Extra[0] != '{' || !json.Valid(o.Extra) {
			return ErrIdentityOptions
		}
	}
	return nil
}

// companyUUID returns the company-managed uuid the options prove for d:
// verified from identity.jwt when the deployment requires it (or a jwt is
// given), as given otherwise. "" means anonymous.
func companyUUID(d config.Deployment, o identityOptions, now time.Time) (uuid string, signed bool, err error) {
	if o.JWT == "" {
		if d.Identity == config.IdentitySigned {
			return "", false, ErrIdentityRequired
		}
		return o.UUID, false, nil
	}
	if d.JWTSecret == "" {
		return "", false, ErrIdentityInvalid
	}
	var claims jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(o.JWT, &claims, func(*jwt.Token) (any, error) { return []byte(d.JWTSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(30*time.Second))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", false, ErrIdentityExpired.Wrap(err)
	case err != nil:
		return "", false, ErrIdentityInvalid.Wrap(err)
	case claims.Subject == "" || len(claims.Subject) > 256:
		return "", false, ErrIdentityInvalid
	case o.UUID != "" && o.UUID != claims.Subject:
		return "", false, ErrIdentityInvalid
	}
	return claims.Subject, true, nil
}

// identityID is the stable id of a company uuid within a deployment. Hashing
// keeps keys short and keeps one deployment's visitors from claiming another
// deployment's history.
func identityID(deployment, uuid string) string {
	h := sha256.Sum256([]byte(deployment + "\x00" + uuid))
	return "u-" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// sessionClaims are what session data carries: which chat of which identity.
type sessionClaims struct {
	Chat       string `json:"cid"`
	Deployment string `json:"dep"`
	jwt.RegisteredClaims
}

// sessionTTL is how long session data restores a conversation.
const sessionTTL = 30 * 24 * time.Hour

func (s *Service) signSession(c store.Chat) (string, error) {
	now := s.engine.Now()
	claims := sessionClaims{Chat: c.ID, Deployment: c.Deployment, RegisteredClaims: jwt.RegisteredClaims{
		Subject: c.IdentityID, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(sessionTTL)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.sessionKey)
}

// verifySession returns the claims of valid session data, or false: a forged,
// expired or malformed token says nothing more.
func (s *Service) verifySessionData(token string) (sessionClaims, bool) {
	var claims sessionClaims
	if token == "" || len(token) > 4096 {
		return claims, false
	}
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.sessionKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.engine.Now))
	return claims, err == nil && claims.Chat != "" && claims.Subject != ""
}
