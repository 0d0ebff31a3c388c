package webchat

import (
	"context"
	"errors"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// openConversation is the messaging trigger's question (seeds/000): does the
// identity the browser keeps have an open conversation on this asynchronous
// deployment? If so it resolves as a resumed startChat (a new token for
// the conversation with the latest activity), else it rejects with
// ErrNoOpenConversation. It never starts a chat nor changes the identity, so
// a browser may ask on every page view. Options: {identityToken} or
// {identity: {uuid | jwt}}.
func (s *Service) openConversation(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.OpenConversationOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	d, ok := s.engine.Config().Deployment(call.Caller.Deployment)
	if !ok {
		return nil, ErrUnknownDeployment
	}
	if d.Mode != config.ModeAsync {
		return nil, ErrNoOpenConversation
	}
	var id string
	switch {
	case o.Identity != nil:
		_, maxBytes := s.limits()
		if err := validateIdentity(*o.Identity, maxBytes); err != nil {
			return nil, err
		}
		uuid, _, err := companyUUID(d, *o.Identity, s.engine.Now())
		if err != nil {
			return nil, err
		}
		if uuid == "" {
			return nil, ErrNoOpenConversation
		}
		id = identityID(d.Key, uuid)
		if _, err := s.engine.Identity(ctx, id); errors.Is(err, engine.ErrNotFound) {
			return nil, ErrNoOpenConversation
		} else if err != nil {
			return nil, err
		}
	case o.IdentityToken != "":
		kept, ok, err := s.keptIdentity(ctx, o.IdentityToken, d.Key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrNoOpenConversation
		}
		id = kept.ID
	default:
		return nil, ErrNoOpenConversation
	}
	res, ok, err := s.resumeOpen(ctx, d.Key, engine.StartRequest{Deployment: d.Key, IdentityID: id})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoOpenConversation
	}
	return res, nil
}
