package webchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Proactive engagement's server side (DESIGN.md "Proactive engagement"):
//
//	updateContext    {context}                                      chat token → {seq}
//	leaveMessage     {name, email, message, identityToken?, context?} deployment → {id, identityToken}
//	listLeftMessages {identityToken}                                deployment → {messages:[…]}
//
// context is the visit's session data as the Chat Manager tracks it:
// {pages:[{title, url, at}], variables:{name: value}, visits, pageViews,
// timeOnSite (ms), referrer}. updateContext stores it as a ContextUpdated
// event of the chat, which agents receive (AgentService.contextUpdated) and
// visitors never see.

// Bounds of a visit's context.
const (
	maxContextBytes = 16 << 10
	maxContextPages = 20
	maxContextVars  = 50
)

// VisitContext is the visit's session data an engaged visitor's browser sends.
type VisitContext struct {
	Pages      []VisitPage    `json:"pages"`
	Variables  map[string]any `json:"variables"`
	Visits     int            `json:"visits"`
	PageViews  int            `json:"pageViews"`
	TimeOnSite int64          `json:"timeOnSite"` // ms
	Referrer   string         `json:"referrer,omitempty"`
}

// VisitPage is one page of the visit.
type VisitPage struct {
	Title string `json:"title"`
	URL   string `json:"url"`
	At    int64  `json:"at"` // unix ms
}

// decodeContext checks raw against the bounds and returns it re-encoded in
// its own form, nothing else kept.
func decodeContext(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > maxContextBytes {
		return nil, ErrInvalidContext
	}
	var vc VisitContext
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&vc); err != nil {
		return nil, ErrInvalidContext.Wrap(err)
	}
	if len(vc.Pages) > maxContextPages || len(vc.Variables) > maxContextVars ||
		vc.Visits < 0 || vc.PageViews < 0 || vc.TimeOnSite < 0 || len(vc.Referrer) > 2048 {
		return nil, ErrInvalidContext
	}
	for _, p := range vc.Pages {
		if utf8.RuneCountInString(p.Title) > 300 || len(p.URL) > 2048 {
			return nil, ErrInvalidContext
		}
	}
	for k, v := range vc.Variables {
		if k == "" || len(k) > 64 {
			return nil, ErrInvalidContext
		}
		switch v := v.(type) {
		case string:
			if utf8.RuneCountInString(v) > 500 {
				return nil, ErrInvalidContext
			}
		case json.Number, bool, nil:
		default:
			return nil, ErrInvalidContext
		}
	}
	if vc.Pages == nil {
		vc.Pages = []VisitPage{}
	}
	if vc.Variables == nil {
		vc.Variables = map[string]any{}
	}
	return json.Marshal(vc)
}

func (s *Service) updateContext(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.UpdateContextOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	c, err := s.liveSession(ctx, call, ErrNoActiveSession)
	if err != nil {
		return nil, err
	}
	visit, err := decodeContext(o.Context)
	if err != nil {
		return nil, err
	}
	now := s.engine.Now().UnixMilli()
	_, evs, err := s.engine.Mutate(ctx, c.ID, "", func(ch *model.Chat) ([]model.Event, error) {
		if ch.State == model.StateEnded {
			return nil, ErrNoActiveSession
		}
		return []model.Event{{Type: model.EventContextUpdated, From: s.visitorParty(*ch), Time: now, Data: visit}}, nil
	})
	if err != nil {
		return nil, err
	}
	return contract.UpdateContextResult{Seq: evs[len(evs)-1].Seq}, nil
}

// leftLimiter bounds left messages per client address: at most leftPerWindow
// in leftWindow. Its map is emptied of stale addresses when it grows.
type leftLimiter struct {
	mu   sync.Mutex
	seen map[string][]int64 // address → times (unix ms) within the window
}

const (
	leftPerWindow = 10
	leftWindow    = 10 * time.Minute
	leftAddresses = 10000
)

func (l *leftLimiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	since := now.Add(-leftWindow).UnixMilli()
	recent := func(ts []int64) []int64 {
		i := 0
		for i < len(ts) && ts[i] <= since {
			i++
		}
		return ts[i:]
	}
	if l.seen == nil || len(l.seen) >= leftAddresses {
		for a, ts := range l.seen {
			if len(recent(ts)) == 0 {
				delete(l.seen, a)
			}
		}
		if l.seen == nil || len(l.seen) >= leftAddresses {
			l.seen = map[string][]int64{} // a flood of addresses: start over rather than grow
		}
	}
	ts := recent(l.seen[addr])
	if len(ts) >= leftPerWindow {
		l.seen[addr] = ts
		return false
	}
	l.seen[addr] = append(ts, now.UnixMilli())
	return true
}

// leaveMessage stores what a visitor wrote in the "leave a message" form of
// an offline item. It needs no chat, only the deployment; the visitor keeps
// the identity token it returns to read the answer later
// (listLeftMessages), and gives it back on its next message.
func (s *Service) leaveMessage(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.LeaveMessageOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if call.Caller.Deployment == "" {
		return nil, ErrNoDeployment
	}
	d, ok := s.engine.Config().Deployment(call.Caller.Deployment)
	if !ok {
		return nil, ErrUnknownDeployment
	}
	if o.Message == nil || strings.TrimSpace(*o.Message) == "" {
		return nil, ErrNoMessage
	}
	if max := s.engine.Config().Limits.MessageChars; utf8.RuneCountInString(*o.Message) > max {
		return nil, errMessageTooLong(max)
	}
	o.Name = strings.TrimSpace(o.Name)
	if utf8.RuneCountInString(o.Name) > 100 {
		return nil, ErrNameTooLong
	}
	if o.Email = strings.TrimSpace(o.Email); o.Email != "" {
		if a, err := mail.ParseAddress(o.Email); err != nil || a.Address != o.Email || len(o.Email) > 254 {
			return nil, ErrInvalidEmail
		}
	}
	var visit json.RawMessage
	if len(o.Context) > 0 && string(o.Context) != "null" {
		var err error
		if visit, err = decodeContext(o.Context); err != nil {
			return nil, err
		}
	}
	var idn *model.Identity
	if o.IdentityToken != "" {
		kept, ok, err := s.keptIdentity(ctx, o.IdentityToken, d.Key)
		if err != nil {
			return nil, err
		}
		if ok {
			idn = &kept
		}
	}
	if !s.left.allow(call.Caller.Remote, s.engine.Now()) {
		return nil, ErrTooManyMessages
	}
	m, err := s.engine.LeaveMessage(ctx, engine.LeaveRequest{Deployment: d.Key, Name: o.Name, Email: o.Email,
		Message: *o.Message, Context: visit, Identity: idn})
	switch {
	case errors.Is(err, engine.ErrTooManyMessages):
		return nil, ErrTooManyMessages
	case errors.Is(err, engine.ErrNoDeployment):
		return nil, ErrUnknownDeployment
	case err != nil:
		return nil, err
	}
	tok, err := s.signIdentity(d.Key, m.IdentityID)
	if err != nil {
		return nil, err
	}
	return contract.LeaveMessageResult{ID: m.ID, IdentityToken: tok, CreatedAt: m.CreatedAt}, nil
}

// LeftMessage is a left message as its visitor reads it back.
type LeftMessage = contract.LeftMessage

// LeftReply is an agent's answer as the visitor reads it.
type LeftReply = contract.LeftReply

// listLeftMessages lists the messages the identity of an identity token left
// on this deployment, oldest first, with their answers. A token that names
// no identity here lists none.
func (s *Service) listLeftMessages(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.ListLeftMessagesOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if call.Caller.Deployment == "" {
		return nil, ErrNoDeployment
	}
	out := []LeftMessage{}
	idn, ok, err := s.keptIdentity(ctx, o.IdentityToken, call.Caller.Deployment)
	if err != nil {
		return nil, err
	}
	if ok {
		ms, err := s.engine.LeftMessagesOf(ctx, idn.ID, 100)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.Deployment != call.Caller.Deployment {
				continue
			}
			lm := LeftMessage{ID: m.ID, Message: m.Message, CreatedAt: m.CreatedAt}
			if a := m.Answer; a != nil {
				lm.Answer = &LeftReply{Text: a.Text, AgentName: a.AgentName, AnsweredAt: a.AnsweredAt}
			}
			out = append(out, lm)
		}
	}
	return contract.LeftMessages{Messages: out}, nil
}
