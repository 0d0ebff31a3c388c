package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/model"
)

// Commands, all for the admin only.
const (
	// CommandListDeliveries {state: "pending"|"dead" (default pending), limit (default 100, at most
	// 1000), after (a delivery id: the next page)} resolves with
	// {state, deliveries: [Delivery…] in id order, pending, dead}.
	CommandListDeliveries = "listDeliveries"
	// CommandRetryDelivery {id} makes a delivery due now: a dead one goes back to the outbox with its
	// attempts reset. Resolves with the Delivery.
	CommandRetryDelivery = "retryDelivery"
	// CommandRetryAll {state: "dead"} puts every dead delivery back in the outbox, due now.
	// Resolves with {retried: n}.
	CommandRetryAll = "retryAll"
)

// Delivery is an outbox entry as the admin commands show it.
type Delivery struct {
	model.OutboxEntry
	State model.OutboxState `json:"state"` // pending | dead
}

func adminOnly(h bus.HandlerFunc) bus.HandlerFunc {
	return func(ctx context.Context, call *bus.Call) (any, error) {
		if call.Caller.Kind != bus.KindAdmin {
			return nil, bus.ErrForbidden
		}
		return h(ctx, call)
	}
}

func decode(opts []byte, v any) error { return bus.DecodeOptions(opts, v) }

func (s *Service) listDeliveries(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		State model.OutboxState `json:"state"`
		Limit int               `json:"limit"`
		After uint64            `json:"after"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.State == "" {
		o.State = model.OutboxPending
	}
	if o.State != model.OutboxPending && o.State != model.OutboxDead {
		return nil, ErrBadState
	}
	if o.Limit <= 0 {
		o.Limit = 100
	}
	o.Limit = min(o.Limit, 1000)
	list, err := s.store.ListOutbox(ctx, o.State, o.After, o.Limit)
	if err != nil {
		return nil, err
	}
	pending, dead, err := s.store.OutboxDepth(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, len(list))
	for i, e := range list {
		out[i] = Delivery{OutboxEntry: e, State: o.State}
	}
	return map[string]any{"state": o.State, "deliveries": out, "pending": pending, "dead": dead}, nil
}

func (s *Service) retryDelivery(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		ID json.RawMessage `json:"id"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	id, ok := parseID(o.ID)
	if !ok {
		return nil, ErrNoID
	}
	e, err := s.store.RetryDead(ctx, id, s.now())
	if errors.Is(err, model.ErrNotFound) {
		return nil, ErrDeliveryNotFound
	}
	if err != nil {
		return nil, err
	}
	s.wake()
	return Delivery{OutboxEntry: e, State: model.OutboxPending}, nil
}

// parseID accepts a delivery id as a JSON number or a string of digits (as
// it comes from a URL path).
func parseID(raw json.RawMessage) (uint64, bool) {
	var n uint64
	if json.Unmarshal(raw, &n) == nil && n > 0 {
		return n, true
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if n, err := strconv.ParseUint(str, 10, 64); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

func (s *Service) retryAll(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		State model.OutboxState `json:"state"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.State != "" && o.State != model.OutboxDead {
		return nil, ErrRetryState
	}
	const batch = 1000 // one transaction each
	total := 0
	for {
		n, err := s.store.RetryAllDead(ctx, s.now(), batch)
		total += n
		if err != nil {
			return nil, err
		}
		if n < batch {
			break
		}
	}
	if total > 0 {
		s.wake()
	}
	return map[string]any{"retried": total}, nil
}
