package webchat

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// validateIdentity bounds the identity part of startChat and identify.
func validateIdentity(o contract.IdentityOptions, maxExtra int) error {
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
// none on an anonymous deployment (a uuid or jwt is refused), verified from
// identity.jwt on a signed one, and on an unsigned-uuid one verified when a
// jwt is given, as given otherwise. "" means anonymous.
func companyUUID(d config.Deployment, o contract.IdentityOptions, now time.Time) (uuid string, signed bool, err error) {
	switch {
	case d.Identity == config.IdentityAnonymous:
		if o.UUID != "" || o.JWT != "" {
			return "", false, ErrIdentityNotAllowed
		}
		return "", false, nil
	case o.JWT == "" && d.Identity == config.IdentityUnsignedUUID:
		return o.UUID, false, nil
	case o.JWT == "":
		return "", false, ErrIdentityRequired
	}
	if d.JWTSecret == "" {
		return "", false, ErrIdentityInvalid
	}
	audience := d.JWTAudience
	if audience == "" {
		audience = d.Key
	}
	var claims signedIdentityClaims
	_, err = jwt.ParseWithClaims(o.JWT, &claims, func(*jwt.Token) (any, error) { return []byte(d.JWTSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithAudience(audience),
		jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(clockSkew))
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

// clockSkew is how far a signed identity's exp, iat and nbf may be off the
// gateway's clock: the site's signing server and the gateway keep their own
// time.
const clockSkew = 30 * time.Second

// signedIdentityClaims are the claims of identity.jwt. Its times must be JSON
// numbers (RFC 7519's NumericDate): the library also takes a string holding
// one, which a careless signer would produce and nobody should rely on.
type signedIdentityClaims struct {
	jwt.RegisteredClaims
}

func (c *signedIdentityClaims) UnmarshalJSON(b []byte) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Iat json.RawMessage `json:"iat"`
		Nbf json.RawMessage `json:"nbf"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for _, t := range []json.RawMessage{times.Exp, times.Iat, times.Nbf} {
		if len(t) > 0 && t[0] == '"' {
			return errors.New("identity jwt: exp, iat and nbf must be numbers")
		}
	}
	return json.Unmarshal(b, &c.RegisteredClaims)
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

func (s *Service) signSession(c model.Chat) (string, error) {
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
func (s *Service) identityToken(ctx context.Context, deployment string, mode model.Mode, identity string) (string, error) {
	if mode != config.ModeAsync || identity == "" {
		return "", nil
	}
	idn, err := s.engine.Identity(ctx, identity)
	if errors.Is(err, engine.ErrNotFound) || err == nil && idn.UUID != "" {
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
func (s *Service) keptIdentity(ctx context.Context, token, deployment string) (model.Identity, bool, error) {
	var claims identityClaims
	if token == "" || len(token) > 4096 {
		return model.Identity{}, false, nil
	}
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.sessionKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.engine.Now))
	if err != nil || claims.Kind != identityKind || claims.Deployment != deployment || claims.Subject == "" {
		return model.Identity{}, false, nil
	}
	idn, err := s.engine.Identity(ctx, claims.Subject)
	if errors.Is(err, engine.ErrNotFound) {
		return model.Identity{}, false, nil
	}
	if err != nil {
		return model.Identity{}, false, err
	}
	return idn, idn.UUID == "", nil
}
