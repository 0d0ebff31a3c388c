package agent

import (
	"context"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// historyPage is the default and largest page of getHistory.
const historyPage = 100

// getHistory pages back through a chat's transcript, newest page first:
// {chatId, before (a seq; default the newest), limit (≤ 100, default 100)}
// resolves with {chatId, messages (oldest first), oldest, more}; page on
// with before = oldest while more is true. It is getTranscript for long
// conversations, with the same access: the chat's agents, present or past,
// and any agent while it waits in a queue.
func (s *Service) getHistory(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		ChatID string `json:"chatId"`
		Before uint64 `json:"before"`
		Limit  int    `json:"limit"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.ChatID == "" {
		return nil, ErrNoChatID
	}
	c, err := s.engine.Chat(ctx, o.ChatID)
	if err != nil {
		return nil, rejectionFor(err)
	}
	if !s.mayRead(&c, call.Caller.ID) {
		return nil, ErrNotParticipant
	}
	if o.Limit <= 0 || o.Limit > historyPage {
		o.Limit = historyPage
	}
	msgs, oldest, err := s.engine.MessagesBefore(ctx, c.ID, o.Before, o.Limit, engine.Visible)
	if err != nil {
		return nil, err
	}
	if len(msgs) > 0 {
		oldest = msgs[0].Index
	}
	more := false
	if oldest > 1 {
		// Something older is there if a visible event precedes oldest.
		for before := oldest; before > 1 && !more; {
			evs, err := s.engine.EventsBefore(ctx, c.ID, before, historyPage)
			if err != nil {
				return nil, err
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				more = more || engine.Visible(ev)
			}
			before = evs[0].Seq
		}
	}
	return map[string]any{"chatId": c.ID, "messages": msgs, "oldest": oldest, "more": more}, nil
}

// mayRead is the one rule of what an agent may read of a chat, for every
// AgentService read (getTranscript, getHistory, downloadFile): a chat it is
// or was in, and a chat waiting in a queue it could take (what listChats
// shows it and acceptChat lets it take). Supervisors may read every chat, as
// they may join every chat.
func (s *Service) mayRead(c *model.Chat, agentID string) bool {
	for _, p := range c.Participants {
		if p.ID == agentID {
			return true
		}
	}
	if c.State == model.StateQueued && s.engine.MayTake(agentID, c) {
		return true
	}
	for _, a := range s.engine.Config().Agents {
		if a.ID == agentID {
			return a.Supervisor
		}
	}
	return false
}
