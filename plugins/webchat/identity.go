package webchat

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/plugins/chat"
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

// identityClaims are what an identity token carries: which anonymous
// identity, on which deployment. Kind keeps it from passing for session data
// (which names a chat) and the reverse.
type identityClaims struct {
	Kind       string `json:"knd"`
	Deployment string `json:"dep"`
	jwt.RegisteredClaims
}

const (
	identityKind = "anonymous-identity"
	// identityTTL is how long a browser's identity token names its
	// anonymous identity; every startChat and restore issues a fresh one.
	identityTTL = 400 * 24 * time.Hour
)

// identityToken signs the credential a browser keeps for its anonymous
// identity on an asynchronous deployment: startChat {identityToken} continues
// as that identity. A company identity gets none (its uuid, signed where the
// deployment requires it, is what names it), nor does a live deployment.
func (s *Service) identityToken(ctx context.Context, deployment, mode, identity string) (string, error) {
	if mode != config.ModeAsync || identity == "" {
		return "", nil
	}
	idn, err := s.engine.Identity(ctx, identity)
	if errors.Is(err, chat.ErrNotFound) || err == nil && idn.UUID != "" {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return s.signIdentity(deployment, identity)
}

// signIdentity makes an identity token naming an anonymous identity on a
// deployment.
func (s *Service) signIdentity(deployment, identity string) (string, error) {
	now := s.engine.Now()
	claims := identityClaims{Kind: identityKind, Deployment: deployment, RegisteredClaims: jwt.RegisteredClaims{
		Subject: identity, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(identityTTL)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.sessionKey)
}

// keptIdentity returns the anonymous identity an identity token of this
// deployment names. A forged, expired, foreign or unknown token is false: the
// visitor is then a new anonymous identity, as after the browser's storage
// was emptied.
func (s *Service) keptIdentity(ctx context.Context, token, deployment string) (store.Identity, bool, error) {
	var claims identityClaims
	if token == "" || len(token) > 4096 {
		return store.Identity{}, false, nil
	}
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.sessionKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.engine.Now))
	if err != nil || claims.Kind != identityKind || claims.Deployment != deployment || claims.Subject == "" {
		return store.Identity{}, false, nil
	}
	idn, err := s.engine.Identity(ctx, claims.Subject)
	if errors.Is(err, chat.ErrNotFound) {
		return store.Identity{}, false, nil
	}
	if err != nil {
		return store.Identity{}, false, err
	}
	return idn, idn.UUID == "", nil
}
