package webchat

import (
	"context"
	"errors"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Conversation is one entry of listConversations.
type Conversation = contract.Conversation

// unreadCap bounds how far unread counting reads.
const unreadCap = 999

// listConversations lists the caller identity's conversations on this
// deployment, newest activity first, with their last message and how many
// messages from agents the visitor has not read.
func (s *Service) listConversations(ctx context.Context, call *bus.Call) (any, error) {
	if call.Caller.Kind != bus.KindVisitor {
		return nil, ErrNoActiveSession
	}
	cur, err := s.engine.Chat(ctx, call.Caller.ID)
	if err != nil {
		return nil, err
	}
	chats, err := s.engine.ChatsOfIdentity(ctx, cur.IdentityID)
	if err != nil {
		return nil, err
	}
	out := make([]Conversation, 0, len(chats))
	for i := len(chats) - 1; i >= 0; i-- {
		c := chats[i]
		if c.Deployment != cur.Deployment {
			continue
		}
		conv := Conversation{ChatID: c.ID, Mode: string(c.Mode), State: string(c.State), Locked: c.Locked, CreatedAt: c.CreatedAt,
			LastActivity: c.LastActivity, LastSeq: c.LastSeq, Current: c.ID == cur.ID, Initiated: c.IdentityInitiated}
		if conv.LastMessage, err = s.lastMessage(ctx, c.ID); err != nil {
			return nil, err
		}
		unread, err := s.engine.EventsAfter(ctx, c.ID, c.VisitorRead, unreadCap)
		if err != nil {
			return nil, err
		}
		for _, ev := range unread {
			if ev.Type == model.EventMessage && ev.From.Type != model.PartyClient && visibleToVisitor(ev) {
				conv.Unread++
			}
		}
		out = append(out, conv)
	}
	return contract.Conversations{Conversations: out}, nil
}

// lastMessageScan bounds how many of a conversation's newest events
// listConversations reads back to find its last message.
const lastMessageScan = 1000

// lastMessage is the newest message of chat chatID the visitor may see,
// looked for among its newest lastMessageScan events, page by page; nil if
// there is none there.
func (s *Service) lastMessage(ctx context.Context, chatID string) (*engine.Message, error) {
	var before uint64 // 0: from the newest
	for read, page := 0, 50; read < lastMessageScan; read, page = read+page, 200 {
		n := min(page, lastMessageScan-read)
		evs, err := s.engine.EventsBefore(ctx, chatID, before, n)
		if err != nil {
			return nil, err
		}
		for j := len(evs) - 1; j >= 0; j-- {
			if evs[j].Type == model.EventMessage && !evs[j].Internal {
				m := engine.ToMessage(evs[j])
				return &m, nil
			}
		}
		if len(evs) < n || evs[0].Seq <= 1 {
			break
		}
		before = evs[0].Seq
	}
	return nil, nil
}

// switchConversation gives the visitor a token for another of its
// conversations.
func (s *Service) switchConversation(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.SwitchConversationOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if call.Caller.Kind != bus.KindVisitor || o.ChatID == "" {
		return nil, ErrNotYourConversation
	}
	cur, err := s.engine.Chat(ctx, call.Caller.ID)
	if err != nil {
		return nil, err
	}
	c, err := s.engine.Chat(ctx, o.ChatID)
	if errors.Is(err, engine.ErrNotFound) || err == nil && (c.IdentityID != cur.IdentityID || c.Deployment != cur.Deployment) {
		return nil, ErrNotYourConversation
	}
	if err != nil {
		return nil, err
	}
	token, err := s.engine.IssueToken(ctx, c)
	if err != nil {
		return nil, err
	}
	return StartResult{ChatID: c.ID, Token: token, Mode: string(c.Mode), ParticipantID: c.IdentityID, Seq: c.LastSeq}, nil
}

// markRead records that the visitor has read its chat up to seq (default:
// everything).
func (s *Service) markRead(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.MarkReadOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if call.Caller.Kind != bus.KindVisitor {
		return nil, ErrNoActiveSession
	}
	c, _, err := s.engine.Mutate(ctx, call.Caller.ID, "", func(c *model.Chat) ([]model.Event, error) {
		seq := o.Seq
		if seq == 0 || seq > c.LastSeq {
			seq = c.LastSeq
		}
		if seq > c.VisitorRead {
			c.VisitorRead = seq
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return contract.MarkReadResult{Read: c.VisitorRead}, nil
}

// identify tells who the visitor is during a chat. Profile fields and extra
// values update the identity and the chat goes on. A company uuid that is not
// the chat's identity starts a new chat for that identity, as a chat belongs
// to one identity: the answer then carries the new chat's token.
func (s *Service) identify(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.IdentityOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	c, err := s.session(ctx, call, ErrNoActiveSession)
	if err != nil {
		return nil, err
	}
	_, maxBytes := s.limits()
	if err := validateIdentity(o, maxBytes); err != nil {
		return nil, err
	}
	d, ok := s.engine.Config().Deployment(c.Deployment)
	if !ok {
		return nil, ErrUnknownDeployment
	}
	uuid, signed, err := companyUUID(d, o, s.engine.Now())
	if err != nil && !(errors.Is(err, ErrIdentityRequired) && o.UUID == "") {
		return nil, err
	}
	now := s.engine.Now().UnixMilli()
	if uuid != "" && identityID(d.Key, uuid) != c.IdentityID {
		idn, err := s.engine.Identity(ctx, identityID(d.Key, uuid))
		if errors.Is(err, engine.ErrNotFound) {
			idn = model.Identity{ID: identityID(d.Key, uuid), UUID: uuid, CreatedAt: now}
		} else if err != nil {
			return nil, err
		}
		mergeIdentity(&idn, o, model.Profile{}, signed, now)
		st, err := s.engine.Start(ctx, engine.StartRequest{Deployment: d.Key, Visitor: idn.Profile, Identity: &idn,
			UserData: c.UserData, Subject: c.Subject, Wire: c.Wire})
		if err != nil {
			return nil, err
		}
		seq := st.Chat.LastSeq
		return contract.IdentifyResult{NewChat: true, ChatID: st.Chat.ID, Token: st.Token, Mode: string(st.Chat.Mode),
			ParticipantID: st.Chat.IdentityID, Seq: &seq}, nil
	}
	idn, err := s.engine.Identity(ctx, c.IdentityID)
	if errors.Is(err, engine.ErrNotFound) {
		idn = model.Identity{ID: c.IdentityID, Profile: c.Visitor, CreatedAt: now}
	} else if err != nil {
		return nil, err
	}
	mergeIdentity(&idn, o, model.Profile{}, signed, now)
	if err := s.engine.PutIdentity(ctx, idn); err != nil {
		return nil, err
	}
	_, _, err = s.engine.Mutate(ctx, c.ID, "", func(ch *model.Chat) ([]model.Event, error) {
		ch.Visitor = idn.Profile
		return []model.Event{{Type: model.EventIdentityUpdated, Time: now, From: s.visitorParty(*ch),
			Data: mustJSON(map[string]any{"visitor": idn.Profile, "avatar": idn.Avatar, "extra": idn.Extra})}}, nil
	})
	if err != nil {
		return nil, err
	}
	visitor := contract.Profile(idn.Profile)
	return contract.IdentifyResult{ChatID: c.ID, ParticipantID: c.IdentityID, Visitor: &visitor}, nil
}
