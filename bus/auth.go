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

// ObserveAuthFailures sets fn to hear of every token Authenticate refuses
// (never the token itself), for metrics and logs. It must be cheap: it runs
// on the caller's goroutine. Call before Start.
func (b *Bus) ObserveAuthFailures(fn func(err error)) error {
	if b.started {
		return ErrStarted
	}
	b.authFail = fn
	return nil
}

// Authenticate resolves a bearer token. Unknown tokens are ErrUnauthorized.
func (b *Bus) Authenticate(ctx context.Context, token string) (Caller, error) {
	c, err := b.authenticate(ctx, token)
	if err != nil && b.authFail != nil {
		b.authFail(err)
	}
	return c, err
}

func (b *Bus) authenticate(ctx context.Context, token string) (Caller, error) {
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
