package webhooks

import (
	"encoding/json"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/store"
)

// EventIdentityErased tells a site that an admin erased a visitor's
// identity and every chat of it, so that it can erase its own copies.
const EventIdentityErased = "identity.erased"

// ErasedPayload is the body of identity.erased.
type ErasedPayload struct {
	ID         string        `json:"id"` // stable: "identity:<identityId>:erased"
	Event      string        `json:"event"`
	CreatedAt  int64         `json:"createdAt"` // unix ms
	IdentityID string        `json:"identityId"`
	ChatIDs    []string      `json:"chatIds"` // the chats deleted with it
	Deleted    store.Removed `json:"deleted"`
}

// Erased makes the identity.erased deliveries of an erasure, one per
// subscription that wants it. The store writes them in the transaction
// that erases; call Wake after it committed.
func (s *Service) Erased(identityID string, e store.Erasure) []model.OutboxEntry {
	hooks := s.engine.Config().Webhooks
	now := s.now().UnixMilli()
	p := ErasedPayload{ID: "identity:" + identityID + ":erased", Event: EventIdentityErased, CreatedAt: now,
		IdentityID: identityID, ChatIDs: e.ChatIDs, Deleted: e.Removed}
	if p.ChatIDs == nil {
		p.ChatIDs = []string{}
	}
	var out []model.OutboxEntry
	var body []byte
	for _, w := range hooks {
		if !subscribed(w, EventIdentityErased) {
			continue
		}
		if body == nil {
			body, _ = json.Marshal(p)
		}
		out = append(out, model.OutboxEntry{Subscription: w.ID, Event: EventIdentityErased, EventID: p.ID,
			Body: body, CreatedAt: now, NextAt: now})
	}
	return out
}

// Wake makes Run read the outbox now: after a write that added entries
// outside a chat's commit (an erasure).
func (s *Service) Wake() { s.wake() }
