package webchat

import (
	"context"
	"errors"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// sessionGone answers a visitor whose chat was deleted (erased, or past its
// retention) while a connection of it stayed open as one without a session,
// instead of an internal error: the connection authenticated before the
// chat went.
func sessionGone(h bus.HandlerFunc) bus.HandlerFunc {
	return func(ctx context.Context, call *bus.Call) (any, error) {
		res, err := h(ctx, call)
		var rej *bus.Rejection
		if err != nil && call.Caller.Kind == bus.KindVisitor && !errors.As(err, &rej) &&
			(errors.Is(err, engine.ErrNotFound) || errors.Is(err, model.ErrNotFound)) {
			return nil, ErrNoActiveSession
		}
		return res, err
	}
}
