package webchat

import (
	"context"
	"errors"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/chat"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Availability is what getAvailability resolves with: the answer to RingCX's
// proactive-trigger question "execute only if agents are available", and
// the counts behind it.
type Availability struct {
	Deployment string `json:"deployment"`
	Queue      string `json:"queue"`
	// Probability that a chat offered now is served at once: 1 when the
	// eligible online agents have more free slots than chats already wait,
	// else 0.
	Probability        int `json:"probability"`
	AgentsOnline       int `json:"agentsOnline"`       // online agents able to serve the queue
	AgentsWithCapacity int `json:"agentsWithCapacity"` // of those, with a free chat slot
	FreeSlots          int `json:"freeSlots"`          // chats they can still take, together
	Queued             int `json:"queued"`             // chats waiting in the queue
}

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
	if errors.Is(err, chat.ErrUnknownQueue) {
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
