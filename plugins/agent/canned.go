package agent

import (
	"context"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
)

// Canned responses and internal notes.
//
//	AgentService.listCannedResponses {chatId} → {chatId, deployment, cannedResponses:[{shortcut, text}]}
//
// lists the canned responses of the chat's deployment, for any agent who may
// read the chat (mayRead). They are read from the configuration in force
// when asked, so an admin's edit reaches the next "/" in the console
// without a reload; a chat, not the agent, names the list because each
// deployment (website) has its own.
//
// An internal note is AgentService.sendMessage with internal: true. It is
// stored in the chat's log as a message marked internal, like a silent
// supervisor's whisper: agents and supervisors see it (the stream,
// getTranscript and getHistory carry it with "internal": true), the visitor
// never does on any wire, and webhooks do not send it.
func (s *Service) listCannedResponses(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	c, err := s.engine.Chat(ctx, o.ChatID)
	if err != nil {
		return nil, rejectionFor(err)
	}
	if !s.mayRead(&c, call.Caller.ID) {
		return nil, ErrNotParticipant
	}
	list := []config.CannedResponse{}
	for _, d := range s.engine.Config().Deployments {
		if d.Key == c.Deployment {
			list = append(list, d.CannedResponses...)
		}
	}
	return map[string]any{"chatId": c.ID, "deployment": c.Deployment, "cannedResponses": list}, nil
}
