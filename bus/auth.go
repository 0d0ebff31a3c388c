package bus

import (
	"context"
	"errors"
)

// ErrNoMatch is returned by an AuthFunc for a token it does not know, so the
// next one is tried.
var ErrNoMatch = errors.New("bus: token not recognised")

// An AuthFunc resolves a bearer token into the caller it stands for. It
// returns ErrNoMatch for tokens it does not know.
type AuthFunc func(ctx context.Context, token string) (Caller, error)

// RegisterAuth adds an authenticator; they are tried in registration order.
func (p *Plugin) RegisterAuth(fn AuthFunc) error {
	if p.bus.started {
		return ErrStarted
	}
	p.bus.auths = append(p.bus.auths, fn)
	return nil
}

// Authenticate resolves a bearer token. Unknown tokens are ErrUnauthorized.
func (b *Bus) Authenticate(ctx context.Context, token string) (Caller, error) {
	if token == "" {
		return Caller{}, ErrUnauthorized
	}
	for _, fn := range b.auths {
		c, err := fn(ctx, token)
		if errors.Is(err, ErrNoMatch) {
			continue
		}
		if err != nil {
			return Caller{}, AsRejection(err)
		}
		return c, nil
	}
	return Caller{}, ErrUnauthorized
}
