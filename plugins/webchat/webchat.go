package webchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Name is the plugin's bus name.
const Name = contract.Service

// historyPage is the default page of fetchHistory, as maxMessagePageSize.
const historyPage = 100

// Service is the WebChatService plugin.
type Service struct {
	engine     *engine.Engine
	bus        *bus.Bus
	sessionKey []byte
	attachWait time.Duration
	left       leftLimiter // leaveMessage per client address
}

// Options configure the plugin.
type Options struct {
	// SessionKey signs session data (getSessionData, restore on another
	// device). Required.
	SessionKey []byte
	// AttachWait is how long a chat started with routeOnAttach waits for
	// streamAttached before it is routed anyway; 30 s.
	AttachWait time.Duration
}

// Register registers the plugin's commands, events, feed and authenticator
// on b, and observes the engine.
func Register(b *bus.Bus, e *engine.Engine, o Options) (*Service, error) {
	if len(o.SessionKey) < 16 {
		return nil, errors.New("webchat: a session key of at least 16 bytes is required")
	}
	p, err := b.RegisterPlugin(Name)
	if err != nil {
		return nil, err
	}
	if o.AttachWait <= 0 {
		o.AttachWait = 30 * time.Second
	}
	s := &Service{engine: e, bus: b, sessionKey: o.SessionKey, attachWait: o.AttachWait}
	cmds := []struct {
		name string
		h    bus.HandlerFunc
		opts []bus.CommandOption
	}{
		{contract.StartChat, s.startChat, nil},
		{contract.EndChat, s.endChat, nil},
		{contract.SendMessage, s.sendMessage, nil},
		{contract.SendCustomNotice, s.sendCustomNotice, nil},
		{contract.SendTyping, s.sendTyping, nil},
		{contract.SendFilteredMessage, s.sendFilteredMessage, nil},
		{contract.AddPrefilter, s.addPrefilter, nil},
		{contract.UpdateUserData, s.updateUserData, nil},
		{contract.GetTranscript, s.getTranscript, nil},
		{contract.GetAgents, s.getAgents, nil},
		{contract.GetStats, s.getStats, nil},
		{contract.GetSessionData, s.getSessionData, nil},
		{contract.VerifySession, s.verifySession, nil},
		{contract.Restore, s.restore, nil},
		{contract.StartPoll, s.requireSessionShort, nil},
		{contract.StopPoll, s.requireSessionShort, nil},
		{contract.ResetPollExceptions, resolveEmpty, nil},
		{contract.Poll, s.poll, []bus.CommandOption{bus.Private()}},
		{contract.FetchHistory, s.fetchHistory, nil},
		{contract.SendFile, s.sendFile, nil},
		{contract.GetFileLimits, s.getFileLimits, nil},
		{contract.ListConversations, s.listConversations, nil},
		{contract.SwitchConversation, s.switchConversation, nil},
		{contract.MarkRead, s.markRead, nil},
		{contract.Identify, s.identify, nil},
		{contract.GetQueuePosition, s.getQueuePosition, nil},
		{contract.DownloadFile, s.downloadFile, nil},
		{contract.GetAvailability, s.getAvailability, nil},
		{contract.StreamAttached, s.streamAttached, nil},
		{contract.GetMediaRequests, s.getMediaRequests, nil},
		{contract.AnswerMediaRequest, s.answerMediaRequest, nil},
		{contract.OpenConversation, s.openConversation, nil},
		{contract.UpdateContext, s.updateContext, nil},
		{contract.LeaveMessage, s.leaveMessage, nil},
		{contract.ListLeftMessages, s.listLeftMessages, nil},
		{contract.RateChat, s.rateChat, nil},
	}
	for _, c := range cmds {
		if err := p.RegisterCommand(contract.Local(c.name), sessionGone(c.h), c.opts...); err != nil {
			return nil, err
		}
	}
	p.RegisterEvents(allEvents...)
	if err := p.RegisterFeed(bus.KindVisitor, s.feed); err != nil {
		return nil, err
	}
	if err := p.RegisterAuth(s.authenticate); err != nil {
		return nil, err
	}
	e.Observe(s.observe)
	return s, nil
}

// observe publishes the visitor-facing events of a commit. It runs on the
// engine's dispatcher, in commit order.
func (s *Service) observe(c *model.Chat, evs []model.Event) {
	for _, ev := range evs {
		if u, ok := toBus(c, ev); ok {
			s.bus.Publish(u)
		}
	}
}

// authenticate resolves visitor tokens.
func (s *Service) authenticate(ctx context.Context, token string) (bus.Caller, error) {
	t, err := s.engine.VisitorToken(ctx, token)
	if errors.Is(err, engine.ErrNotFound) {
		return bus.Caller{}, bus.ErrNoMatch
	}
	if err != nil {
		return bus.Caller{}, err
	}
	if c, ok := s.engine.OpenChat(t.ChatID); ok {
		return bus.Caller{Kind: bus.KindVisitor, ID: t.ChatID, Deployment: c.Deployment}, nil
	}
	c, err := s.engine.Chat(ctx, t.ChatID) // an ended chat: the view keeps only open ones
	if errors.Is(err, engine.ErrNotFound) {
		return bus.Caller{}, bus.ErrNoMatch // a token of a deleted chat, still in the engine's cache
	}
	if err != nil {
		return bus.Caller{}, err
	}
	if s.engine.TokenExpired(&c) {
		return bus.Caller{}, bus.ErrNoMatch
	}
	return bus.Caller{Kind: bus.KindVisitor, ID: t.ChatID, Deployment: c.Deployment}, nil
}

// feed reads a visitor's chat after seq, as units of bus events.
func (s *Service) feed(ctx context.Context, caller bus.Caller, after uint64, limit int) ([]bus.Event, error) {
	c, err := s.engine.Chat(ctx, caller.ID)
	if err != nil {
		return nil, err
	}
	var out []bus.Event
	for {
		evs, err := s.engine.EventsAfter(ctx, caller.ID, after, limit)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if u, ok := toBus(&c, ev); ok {
				out = append(out, u)
			}
			after = ev.Seq
		}
		// Events visitors do not see still advance the position; keep
		// reading so an answer is never empty while the log has more.
		if len(out) > 0 || len(evs) < limit {
			return out, nil
		}
	}
}

func decode(opts []byte, v any) error { return bus.DecodeOptions(opts, v) }

func resolveEmpty(context.Context, *bus.Call) (any, error) { return struct{}{}, nil }

// visibleToVisitor is what a visitor's transcript shows: what participants
// see, less what is for agents only (a silent supervisor, whispers).
func visibleToVisitor(ev model.Event) bool { return engine.Visible(ev) && !ev.Internal }

// getQueuePosition tells a waiting visitor its place in its queue (0 when
// the chat is not waiting); changes are also pushed as queuePosition.
func (s *Service) getQueuePosition(ctx context.Context, call *bus.Call) (any, error) {
	if call.Caller.Kind != bus.KindVisitor {
		return nil, ErrNoActiveSession
	}
	pos, queue := s.engine.QueuePosition(call.Caller.ID)
	out := contract.QueuePosition{Position: pos, Queue: queue}
	if w, ok := s.engine.RecentWait(queue); ok && pos > 0 {
		out.RecentWait = &w
	}
	return out, nil
}

// session returns the caller's chat if it is open, else rej.
func (s *Service) session(ctx context.Context, call *bus.Call, rej *bus.Rejection) (model.Chat, error) {
	if call.Caller.Kind != bus.KindVisitor {
		return model.Chat{}, rej
	}
	return s.readSession(ctx, call.Caller.ID, rej)
}

// liveSession is session for the hot paths (messages, typing): from the
// engine's view of open chats, without userData and without a store read.
func (s *Service) liveSession(ctx context.Context, call *bus.Call, rej *bus.Rejection) (model.Chat, error) {
	if call.Caller.Kind != bus.KindVisitor {
		return model.Chat{}, rej
	}
	if c, ok := s.engine.OpenChat(call.Caller.ID); ok {
		return c, nil
	}
	return s.readSession(ctx, call.Caller.ID, rej)
}

func (s *Service) readSession(ctx context.Context, id string, rej *bus.Rejection) (model.Chat, error) {
	c, err := s.engine.Chat(ctx, id)
	if errors.Is(err, engine.ErrNotFound) || err == nil && c.State == model.StateEnded {
		return model.Chat{}, rej
	}
	return c, err
}

func (s *Service) limits() (messageChars, userDataBytes int) {
	l := s.engine.Config().Limits
	return l.MessageChars, l.UserDataBytes
}

// validateRouting checks what a page asks of routing, and names the queue
// Queue whether the page said queue or targetAddress.
func validateRouting(r *contract.RoutingOptions, cfg *config.Config) error {
	if r.Queue == "" {
		r.Queue = r.TargetAddress
	}
	if r.Queue != "" {
		if _, ok := cfg.Queue(r.Queue); !ok {
			return ErrUnknownQueue
		}
	}
	if r.Priority != nil && (*r.Priority < 0 || *r.Priority > 10) {
		return ErrBadRouting
	}
	if len(r.Skills) > 16 || len(r.Language) > 64 {
		return ErrBadRouting
	}
	for _, sk := range r.Skills {
		if sk == "" || len(sk) > 64 {
			return ErrBadRouting
		}
	}
	return nil
}

// StartResult is what startChat resolves with.
type StartResult = contract.StartChatResult

func (s *Service) startChat(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.StartChatOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	return s.start(ctx, call.Caller, o)
}

// start starts a chat for caller, or resumes the identity's open
// asynchronous conversation: the startChat command with its options decoded.
func (s *Service) start(ctx context.Context, caller bus.Caller, o contract.StartChatOptions) (StartResult, error) {
	// A visitor's token names its chat: an open one blocks a second start
	// (but for another asynchronous conversation); an ended one's identity
	// goes on in the new chat.
	var current model.Chat
	if caller.Kind == bus.KindVisitor {
		c, err := s.engine.Chat(ctx, caller.ID)
		if err != nil {
			return StartResult{}, err
		}
		if c.State != model.StateEnded && !(o.NewConversation && c.Mode == config.ModeAsync) {
			return StartResult{}, ErrAlreadyActive
		}
		current = c
	}
	d, ok := s.engine.Config().Deployment(caller.Deployment)
	if !ok {
		return StartResult{}, ErrUnknownDeployment
	}
	for _, f := range []string{o.Nickname, o.Firstname, o.Lastname, o.Email, o.Subject} {
		if len(f) > 256 || !utf8.ValidString(f) {
			return StartResult{}, ErrFormFields
		}
	}
	if o.RequestID != "" && (len(o.RequestID) < 16 || len(o.RequestID) > 128) {
		return StartResult{}, ErrStartRequestID
	}
	profile := model.Profile{Nickname: o.Nickname, Firstname: o.Firstname, Lastname: o.Lastname, Email: o.Email}
	req := engine.StartRequest{Deployment: d.Key, Visitor: profile, Subject: o.Subject, RequestID: o.RequestID, Wire: caller.Wire}

	// Who the visitor is: a company uuid (signed where required), the
	// identity of session data or of the caller's chat, the anonymous identity
	// the browser keeps (async), or a new anonymous one.
	_, maxBytes := s.limits()
	idOpts := contract.IdentityOptions{}
	if o.Identity != nil {
		idOpts = *o.Identity
		if err := validateIdentity(idOpts, maxBytes); err != nil {
			return StartResult{}, err
		}
	}
	uuid, signed, err := companyUUID(d, idOpts, s.engine.Now())
	if err != nil {
		return StartResult{}, err
	}
	now := s.engine.Now().UnixMilli()
	known := true // the identity may already have conversations
	switch {
	case uuid != "":
		id := identityID(d.Key, uuid)
		idn, err := s.engine.Identity(ctx, id)
		if errors.Is(err, engine.ErrNotFound) {
			idn = model.Identity{ID: id, UUID: uuid, CreatedAt: now}
		} else if err != nil {
			return StartResult{}, err
		}
		mergeIdentity(&idn, idOpts, profile, signed, now)
		req.Identity = &idn
		req.Visitor = idn.Profile
	case o.SessionData != "":
		claims, ok := s.verifySessionData(o.SessionData)
		if !ok || claims.Deployment != d.Key {
			return StartResult{}, ErrRestoreFailed
		}
		req.IdentityID = claims.Subject
	case current.ID != "" && current.Deployment == d.Key:
		req.IdentityID = current.IdentityID
	default:
		idn := model.Identity{ID: "", Profile: profile, CreatedAt: now}
		if o.IdentityToken != "" && d.Mode == config.ModeAsync {
			kept, ok, err := s.keptIdentity(ctx, o.IdentityToken, d.Key)
			if err != nil {
				return StartResult{}, err
			}
			if ok {
				idn = kept
			}
		}
		mergeIdentity(&idn, idOpts, profile, false, now)
		switch {
		case idn.ID != "":
			req.Identity, req.IdentityID, req.Visitor = &idn, idn.ID, idn.Profile
		case idn.Avatar != "" || len(idn.Extra) > 0:
			idn.ID = engine.NewID()
			req.Identity = &idn
			known = false
		default:
			known = false
		}
	}
	routing := o.Routing
	if routing == nil && o.InteractionData != nil {
		routing = o.InteractionData.Routing
	}
	if routing != nil {
		if err := validateRouting(routing, s.engine.Config()); err != nil {
			return StartResult{}, err
		}
		req.Queue, req.Skills, req.Language = routing.Queue, routing.Skills, routing.Language
		if routing.Priority != nil {
			req.Priority = *routing.Priority
		}
	}
	// Messaging mode reopens the identity's open conversation rather than
	// starting another, unless another is asked for.
	if d.Mode == config.ModeAsync && !o.NewConversation && known {
		res, ok, err := s.resumeOpen(ctx, d.Key, req)
		if err != nil || ok {
			return res, err
		}
	}
	queue := req.Queue
	if queue == "" {
		queue = d.Queue
	}
	if q, _ := s.engine.Config().Queue(queue); q.WhenNoAgents == "reject" && !s.engine.CanServeNow(queue, req.Skills, req.Language) {
		return StartResult{}, ErrNoAgents
	}
	var extra json.RawMessage
	if o.NewConversation && d.Mode == config.ModeAsync {
		req.IdentityInitiated = true
		extra = json.RawMessage(`{"identity_initiated_thread":true}`)
	}
	ud, err := s.mergeUserData(d.UserData, o.UserData, extra)
	if err != nil {
		return StartResult{}, err
	}
	req.UserData = ud
	if o.RouteOnAttach {
		req.HoldRouting = s.attachWait
	}
	st, err := s.engine.Start(ctx, req)
	if err != nil {
		return StartResult{}, err
	}
	idToken, err := s.identityToken(ctx, d.Key, st.Chat.Mode, st.Chat.IdentityID)
	if err != nil {
		return StartResult{}, err
	}
	return StartResult{ChatID: st.Chat.ID, Token: st.Token, Mode: string(st.Chat.Mode), ParticipantID: st.Chat.IdentityID,
		Seq: st.Chat.LastSeq, Existing: st.Existing, IdentityToken: idToken}, nil
}

// resumeOpen resumes the identity's open asynchronous conversation on this
// deployment with the latest activity, if there is one: a new token for it,
// and the profile given with the start folded into the identity. false when
// the identity has none open.
func (s *Service) resumeOpen(ctx context.Context, deployment string, req engine.StartRequest) (StartResult, bool, error) {
	id := req.IdentityID
	if id == "" && req.Identity != nil {
		id = req.Identity.ID
	}
	if id == "" {
		return StartResult{}, false, nil
	}
	chats, err := s.engine.ChatsOfIdentity(ctx, id)
	if err != nil {
		return StartResult{}, false, err
	}
	var open *model.Chat
	for i := range chats { // oldest first: a tie goes to the newer
		c := &chats[i]
		if c.Deployment == deployment && c.Mode == config.ModeAsync && c.State != model.StateEnded &&
			(open == nil || c.LastActivity >= open.LastActivity) {
			open = c
		}
	}
	if open == nil {
		return StartResult{}, false, nil
	}
	if req.Identity != nil {
		if err := s.engine.PutIdentity(ctx, *req.Identity); err != nil {
			return StartResult{}, false, err
		}
	}
	token, err := s.engine.IssueToken(ctx, *open)
	if err != nil {
		return StartResult{}, false, err
	}
	idToken, err := s.identityToken(ctx, deployment, open.Mode, open.IdentityID)
	if err != nil {
		return StartResult{}, false, err
	}
	return StartResult{ChatID: open.ID, Token: token, Mode: string(open.Mode), ParticipantID: open.IdentityID,
		Seq: open.LastSeq, Resumed: true, IdentityToken: idToken}, true, nil
}

// mergeIdentity folds the given profile, avatar and extra values into idn.
func mergeIdentity(idn *model.Identity, o contract.IdentityOptions, form model.Profile, signed bool, now int64) {
	pick := func(dst *string, vals ...string) {
		for _, v := range vals {
			if v != "" {
				*dst = v
				return
			}
		}
	}
	p := &idn.Profile
	pick(&p.Nickname, o.Nickname, form.Nickname)
	pick(&p.Firstname, o.Firstname, form.Firstname)
	pick(&p.Lastname, o.Lastname, form.Lastname)
	pick(&p.Email, o.Email, form.Email)
	pick(&idn.Avatar, o.Avatar)
	if len(o.Extra) > 0 && string(o.Extra) != "null" {
		merged := map[string]any{}
		_ = json.Unmarshal(idn.Extra, &merged)
		var add map[string]any
		if json.Unmarshal(o.Extra, &add) == nil {
			maps.Copy(merged, add)
		}
		idn.Extra, _ = json.Marshal(merged)
	}
	idn.Signed = idn.Signed || signed
	idn.UpdatedAt = now
}

// mergeUserData merges update over base over defaults and checks the size.
// update may be an object or a string holding one, as Genesys accepts.
func (s *Service) mergeUserData(defaults map[string]any, base json.RawMessage, update json.RawMessage) (json.RawMessage, error) {
	_, maxBytes := s.limits()
	merged := maps.Clone(defaults)
	if merged == nil {
		merged = map[string]any{}
	}
	for _, raw := range []json.RawMessage{base, update} {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		if raw[0] == '"' {
			var inner string
			if json.Unmarshal(raw, &inner) != nil {
				return nil, ErrInvalidUserData
			}
			raw = bytes.TrimSpace([]byte(inner))
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, ErrInvalidUserData
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, ErrInvalidUserData.Wrap(err)
		}
		maps.Copy(merged, m)
	}
	out, err := json.Marshal(merged)
	if err != nil {
		return nil, ErrInvalidUserData.Wrap(err)
	}
	if len(out) > maxBytes {
		return nil, errTooLarge("userData", maxBytes)
	}
	return out, nil
}

func (s *Service) visitorParty(c model.Chat) model.Party {
	return model.Party{ID: c.IdentityID, Name: engine.VisitorName(c.Visitor), Type: model.PartyClient}
}

func (s *Service) endChat(ctx context.Context, call *bus.Call) (any, error) {
	c, err := s.session(ctx, call, ErrNoActiveSession)
	if err != nil {
		return nil, err
	}
	if c.Mode == config.ModeAsync {
		return nil, ErrAsyncNoEnd
	}
	_, err = s.engine.End(ctx, c.ID, s.visitorParty(c), model.EndedByVisitor)
	if errors.Is(err, engine.ErrEnded) {
		return nil, ErrNoActiveSession
	}
	if err != nil {
		return nil, err
	}
	return contract.EndChatResult{Ended: true}, nil
}

// SendResult is what the send commands resolve with.
type SendResult = contract.SendResult

func (s *Service) send(ctx context.Context, call *bus.Call, typ model.EventType, noSession *bus.Rejection, requireText bool) (any, error) {
	var o contract.SendMessageOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	c, err := s.liveSession(ctx, call, noSession)
	if err != nil {
		return nil, err
	}
	text := ""
	if o.Message != nil {
		text = *o.Message
	}
	if requireText && strings.TrimSpace(text) == "" {
		return nil, ErrNoMessage
	}
	maxChars, _ := s.limits()
	if utf8.RuneCountInString(text) > maxChars {
		return nil, errMessageTooLong(maxChars)
	}
	if len(o.RequestID) > 128 {
		return nil, ErrRequestIDTooLong
	}
	ev := model.Event{Type: typ, From: s.visitorParty(c), Text: text, Time: s.engine.Now().UnixMilli()}
	if o.Regex != "" {
		if len(o.Regex) > 512 {
			return nil, ErrRegexTooLong
		}
		ev.Data = mustJSON(map[string]string{"filter": o.Regex})
	}
	saved, err := s.engine.Append(ctx, c.ID, o.RequestID, ev)
	if errors.Is(err, engine.ErrEnded) || errors.Is(err, engine.ErrNotFound) {
		return nil, noSession
	}
	if errors.Is(err, engine.ErrLocked) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, err
	}
	return SendResult{Seq: saved.Seq, Index: saved.Seq, Timestamp: saved.Time}, nil
}

func (s *Service) sendMessage(ctx context.Context, call *bus.Call) (any, error) {
	return s.send(ctx, call, model.EventMessage, ErrNoActiveSession, true)
}

func (s *Service) sendCustomNotice(ctx context.Context, call *bus.Call) (any, error) {
	return s.send(ctx, call, model.EventCustomNotice, ErrNoActiveSession, false)
}

func (s *Service) sendFilteredMessage(ctx context.Context, call *bus.Call) (any, error) {
	return s.send(ctx, call, model.EventMessage, ErrNoActiveSessionShort, true)
}

func (s *Service) sendTyping(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.SendTypingOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	c, err := s.liveSession(ctx, call, ErrNoActiveSession)
	if err != nil {
		return nil, err
	}
	typing := o.IsTyping == nil || *o.IsTyping
	if err := s.engine.Typing(ctx, c.ID, s.visitorParty(c), typing); err != nil {
		return nil, ErrNoActiveSession
	}
	return struct{}{}, nil
}

func (s *Service) addPrefilter(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		Filters json.RawMessage `json:"filters"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, ErrInvalidFilters
	}
	var list []string
	var one string
	switch {
	case json.Unmarshal(o.Filters, &one) == nil && one != "":
		list = []string{one}
	case json.Unmarshal(o.Filters, &list) == nil && len(list) > 0:
	default:
		return nil, ErrInvalidFilters
	}
	if len(list) > 32 {
		return nil, ErrInvalidFilters
	}
	for _, f := range list {
		if f == "" || len(f) > 512 {
			return nil, ErrInvalidFilters
		}
	}
	return contract.AddPrefilterResult{Filters: list}, nil
}

func (s *Service) updateUserData(ctx context.Context, call *bus.Call) (any, error) {
	if call.Caller.Kind != bus.KindVisitor {
		d, ok := s.engine.Config().Deployment(call.Caller.Deployment)
		if !ok {
			return nil, ErrUnknownDeployment
		}
		merged, err := s.mergeUserData(d.UserData, nil, call.Options)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(merged), nil
	}
	c, err := s.session(ctx, call, ErrNoActiveSession)
	if err != nil {
		return nil, err
	}
	if _, err := s.mergeUserData(nil, nil, call.Options); err != nil {
		return nil, err
	}
	now := s.engine.Now().UnixMilli()
	var merged json.RawMessage
	var mergeErr error
	_, _, err = s.engine.Mutate(ctx, c.ID, "", func(ch *model.Chat) ([]model.Event, error) {
		if ch.State == model.StateEnded {
			return nil, ErrNoActiveSession
		}
		merged, mergeErr = s.mergeUserData(nil, ch.UserData, call.Options)
		if mergeErr != nil {
			return nil, mergeErr
		}
		ch.UserData = merged
		return []model.Event{{Type: model.EventUserDataUpdated, From: s.visitorParty(*ch), Time: now, Data: merged}}, nil
	})
	if err != nil {
		return nil, err
	}
	return contract.UpdateUserDataResult{UserData: merged}, nil
}

// transcript reads every visitor-visible message of a chat.
func (s *Service) transcript(ctx context.Context, chatID string) ([]engine.Message, error) {
	msgs := []engine.Message{}
	var after uint64
	for {
		evs, err := s.engine.EventsAfter(ctx, chatID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if visibleToVisitor(ev) {
				msgs = append(msgs, engine.ToMessage(ev))
			}
			after = ev.Seq
		}
		if len(evs) < 1000 || len(msgs) >= 100000 {
			return msgs, nil
		}
	}
}

func (s *Service) getTranscript(ctx context.Context, call *bus.Call) (any, error) {
	if call.Caller.Kind != bus.KindVisitor {
		return contract.Transcript{Messages: []engine.Message{}}, nil
	}
	msgs, err := s.transcript(ctx, call.Caller.ID)
	if err != nil {
		return nil, err
	}
	return contract.Transcript{Messages: msgs}, nil
}

func (s *Service) agentList(ctx context.Context, call *bus.Call) ([]AgentInfo, model.Chat, error) {
	list := []AgentInfo{}
	if call.Caller.Kind != bus.KindVisitor {
		return list, model.Chat{}, nil
	}
	c, err := s.engine.Chat(ctx, call.Caller.ID)
	if err != nil {
		return nil, c, err
	}
	for _, p := range c.Participants {
		list = append(list, AgentInfo{Name: p.Name, Connected: p.Connected(), Supervisor: p.Supervisor,
			ConnectedTime: p.JoinedAt, DisconnectedTime: p.LeftAt})
	}
	return list, c, nil
}

func (s *Service) getAgents(ctx context.Context, call *bus.Call) (any, error) {
	list, _, err := s.agentList(ctx, call)
	if err != nil {
		return nil, err
	}
	return contract.Agents{Agents: list}, nil
}

func (s *Service) getStats(ctx context.Context, call *bus.Call) (any, error) {
	list, c, err := s.agentList(ctx, call)
	if err != nil {
		return nil, err
	}
	end := c.EndedAt
	duration := int64(0)
	if c.CreatedAt > 0 {
		to := end
		if to == 0 {
			to = s.engine.Now().UnixMilli()
		}
		duration = to - c.CreatedAt
	}
	return contract.Stats{Agents: list, StartTime: c.CreatedAt, EndTime: end, Duration: duration}, nil
}

func (s *Service) getSessionData(ctx context.Context, call *bus.Call) (any, error) {
	if call.Caller.Kind != bus.KindVisitor {
		return map[string]any{}, nil
	}
	var o contract.GetSessionDataOptions
	_ = decode(call.Options, &o) // options it does not know are ignored, as they always were
	c, err := s.engine.Chat(ctx, call.Caller.ID)
	if err != nil {
		return nil, err
	}
	data := contract.SessionData{SessionID: c.ID, ChatID: c.ID, ParticipantID: c.IdentityID,
		TransportID: c.Deployment, Deployment: c.Deployment, Mode: string(c.Mode), Seq: c.LastSeq, State: string(c.State)}
	if o.UserData {
		data.UserData = c.UserData
		if data.UserData == nil {
			data.UserData = json.RawMessage("null") // asked for: present, as it always was
		}
	}
	if c.Mode == config.ModeAsync {
		// The signed session data restores this conversation on another
		// browser or device (restore {sessionData}).
		token, err := s.signSession(c)
		if err != nil {
			return nil, err
		}
		data.SessionData = token
	}
	return data, nil
}

func (s *Service) verifySession(ctx context.Context, call *bus.Call) (any, error) {
	_, err := s.session(ctx, call, ErrNoActiveSession)
	return contract.VerifySessionResult{SessionActive: err == nil}, nil
}

// restore resumes the caller's chat, or, with sessionData from
// getSessionData, an asynchronous conversation on another browser or device:
// then it resolves with a new token for it. Forged, expired or foreign
// session data is the same "not found" as no chat at all. The answer carries
// the visitor's read mark (read): a device resuming after it receives what the
// visitor has not read yet, once.
func (s *Service) restore(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.RestoreOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.SessionData != "" {
		claims, ok := s.verifySessionData(o.SessionData)
		if !ok || (call.Caller.Deployment != "" && claims.Deployment != call.Caller.Deployment) {
			return nil, ErrRestoreFailed
		}
		c, err := s.engine.Chat(ctx, claims.Chat)
		if err != nil || c.State == model.StateEnded || c.IdentityID != claims.Subject {
			return nil, ErrRestoreFailed
		}
		token, err := s.engine.IssueToken(ctx, c)
		if err != nil {
			return nil, err
		}
		out := restored(c)
		out.Token = token
		// This browser or device keeps the anonymous identity from now on too.
		idToken, err := s.identityToken(ctx, c.Deployment, c.Mode, c.IdentityID)
		if err != nil {
			return nil, err
		}
		out.IdentityToken = idToken
		return out, nil
	}
	c, err := s.session(ctx, call, ErrRestoreFailed)
	if err != nil {
		return nil, err
	}
	return restored(c), nil
}

// restored is restore's answer for chat c.
func restored(c model.Chat) contract.Restored {
	return contract.Restored{ChatID: c.ID, Mode: string(c.Mode), Seq: c.LastSeq, State: string(c.State), ParticipantID: c.IdentityID,
		Restored: true, Async: c.Mode == config.ModeAsync, Read: c.VisitorRead}
}

func (s *Service) requireSessionShort(ctx context.Context, call *bus.Call) (any, error) {
	if _, err := s.session(ctx, call, ErrNoActiveSessionShort); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// streamAttached tells that the visitor's event stream is attached: a chat
// started with routeOnAttach is routed from now on. Saying it again, or for
// a chat without the option, changes nothing.
func (s *Service) streamAttached(ctx context.Context, call *bus.Call) (any, error) {
	if _, err := s.liveSession(ctx, call, ErrNoActiveSession); err != nil {
		return nil, err
	}
	s.engine.ReleaseRouting(call.Caller.ID)
	return struct{}{}, nil
}

// poll is private: only the plugin itself reads through it.
func (s *Service) poll(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.PollOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	return s.feed(ctx, call.Caller, o.After, 100)
}

func (s *Service) fetchHistory(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.FetchHistoryOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if call.Caller.Kind != bus.KindVisitor {
		return nil, ErrNoActiveSession
	}
	c, err := s.engine.Chat(ctx, call.Caller.ID)
	if err != nil {
		return nil, err
	}
	if c.Mode != model.ModeAsync {
		return nil, ErrAsyncOnly
	}
	if o.Limit <= 0 || o.Limit > historyPage {
		o.Limit = historyPage
	}
	msgs, oldest, err := s.engine.MessagesBefore(ctx, c.ID, o.Before, o.Limit, visibleToVisitor)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, ErrNoMoreMessages
	}
	return contract.History{Messages: msgs, Restoring: true, Oldest: oldest}, nil
}
