package webchat

import (
	"context"
	"errors"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Availability is what getAvailability resolves with.
type Availability = contract.Availability

// getAvailability answers whether a chat offered now on a deployment would
// be served, from agents' presence and occupancy. Anyone may ask: options
// {deployment, queue, skills, language}, the deployment defaulting to the
// caller's and the queue to the deployment's.
func (s *Service) getAvailability(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.GetAvailabilityOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.Deployment == "" {
		o.Deployment = call.Caller.Deployment
	}
	if o.Deployment == "" {
		return nil, ErrNoDeployment
	}
	cfg := s.engine.Config()
	d, ok := cfg.Deployment(o.Deployment)
	if !ok {
		return nil, ErrUnknownDeployment
	}
	if err := validateRouting(&o.RoutingOptions, cfg); err != nil {
		return nil, err
	}
	queue := d.Queue
	if o.Queue != "" {
		queue = o.Queue
	}
	a, err := s.engine.Availability(queue, o.Skills, o.Language)
	if errors.Is(err, engine.ErrUnknownQueue) {
		return nil, ErrUnknownQueue
	}
	if err != nil {
		return nil, err
	}
	out := Availability{Deployment: d.Key, Queue: a.Queue, AgentsOnline: a.AgentsOnline,
		AgentsWithCapacity: a.AgentsWithCapacity, FreeSlots: a.FreeSlots, Queued: a.Queued}
	if a.Available() {
		out.Probability = 1
	}
	return out, nil
}
