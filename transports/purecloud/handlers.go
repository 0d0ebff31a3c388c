package purecloud

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/httpauth"
)

// handleCreate is POST /conversations: startChat as a guest of deploymentId,
// answered with the conversation id, the jwt (the chat token), the event
// stream's URI and the guest's own member.
func (t *Transport) handleCreate(c *fiber.Ctx) error {
	req, err := decodeCreate(c.Body())
	if err != nil {
		return err
	}
	if err := t.checkOrigin(req.Deployment, httpauth.PageOrigin(c, t.cfg.PublicURL)); err != nil {
		return err
	}
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller := bus.Caller{Kind: bus.KindGuest, Deployment: req.Deployment, Remote: c.IP(), Wire: bus.WirePureCloud}
	st, err := call[contract.StartChatResult](ctx, t, caller, contract.StartChat, req.Options)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, map[string]any{
		"id":             st.ChatID,
		"jwt":            st.Token,
		"eventStreamUri": streamURI(c, t.cfg.PublicURL, st.ChatID, st.Token),
		"member": WebChatMember{ID: st.ParticipantID, DisplayName: req.DisplayName, AvatarImageURL: req.Avatar,
			Role: RoleCustomer, State: StateConnected},
	})
}

// memberRequest authenticates a request on .../members/{memberId}/…, which
// only the member itself may make.
func (t *Transport) memberRequest(ctx context.Context, c *fiber.Ctx) (bus.Caller, session, error) {
	caller, s, err := t.request(ctx, c)
	if err != nil {
		return caller, s, err
	}
	return caller, s, ownMember(c, s)
}

// ownMember checks that the path's member is the caller's own.
func ownMember(c *fiber.Ctx, s session) error {
	if c.Params("memberId") != s.ParticipantID {
		return ErrNotYourMember
	}
	return nil
}

// handleSend is POST .../members/{memberId}/messages.
func (t *Transport) handleSend(c *fiber.Ctx) error {
	body, err := decodeSend(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, s, err := t.memberRequest(ctx, c)
	if err != nil {
		return err
	}
	res, err := call[contract.SendResult](ctx, t, caller, contract.SendMessage, contract.SendMessageOptions{Message: &body})
	if err != nil {
		return err
	}
	m := WebChatMessage{ID: messageID(res.Seq), Conversation: ref{s.ChatID}, Sender: ref{s.ParticipantID}, Body: body,
		BodyType: BodyStandard, Timestamp: isoTime(res.Timestamp)}
	m.SelfURI = conversationPath(s.ChatID) + "/messages/" + m.ID
	return sendJSON(c, http.StatusOK, m)
}

// handleTyping is POST .../members/{memberId}/typing: the guest is typing.
// The guest API has no "stopped typing".
func (t *Transport) handleTyping(c *fiber.Ctx) error {
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, s, err := t.memberRequest(ctx, c)
	if err != nil {
		return err
	}
	typing := true
	if err := t.command(ctx, caller, contract.SendTyping, contract.SendTypingOptions{IsTyping: &typing}); err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, typingBody{ID: newID(), Conversation: ref{s.ChatID}, Sender: ref{s.ParticipantID},
		Timestamp: isoTime(nowMilli())})
}

// handleLeave is DELETE .../members/{memberId}: the guest leaves, which ends
// the chat. Leaving twice is not an error: the member is gone either way.
func (t *Transport) handleLeave(c *fiber.Ctx) error {
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, s, err := t.memberRequest(ctx, c)
	if err != nil {
		return err
	}
	if s.ended() {
		return c.SendStatus(http.StatusNoContent)
	}
	err = t.command(ctx, caller, contract.EndChat, nil)
	if err != nil && bus.CodeOf(err) != errConversationEnded {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// transcript reads the caller's transcript entries that have a wire form,
// oldest first: what the event stream sends, with the same ids, the guest's
// own leave from a chat someone else ended included.
func (t *Transport) transcript(c *fiber.Ctx) (session, []contract.Message, error) {
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, s, err := t.request(ctx, c)
	if err != nil {
		return s, nil, err
	}
	out, err := t.readLog(ctx, caller, s.ParticipantID)
	return s, out, err
}

// readLog reads the whole of the caller's feed into transcript entries.
func (t *Transport) readLog(ctx context.Context, caller bus.Caller, customer string) ([]contract.Message, error) {
	var out []contract.Message
	for after := uint64(0); ; {
		units, err := t.bus.Feed(ctx, caller, after, 100)
		if err != nil {
			return nil, err
		}
		if len(units) == 0 {
			return out, nil
		}
		for _, u := range units {
			for _, e := range append([]bus.Event{u}, u.With...) {
				switch e.Name {
				case eventMessageReceived:
					var d contract.MessageReceived
					if json.Unmarshal(e.Data, &d) != nil {
						continue
					}
					for _, m := range d.Messages {
						if bodyType(m.Type) != "" && m.Index > 0 {
							out = append(out, m)
						}
					}
				case eventEnded:
					if by, ms := endedBy(e.Data); by != "visitor" && e.Seq > 0 {
						out = append(out, customerLeave(customer, e.Seq, ms))
					}
				}
			}
			after = max(after, u.Seq)
		}
	}
}

// handleMessages is GET .../messages: a page of the conversation's messages
// (see page), a WebChatMessageEntityList whose next and previousPage are
// paths the client appends to its base URL.
func (t *Transport) handleMessages(c *fiber.Ctx) error {
	q, err := parsePageQuery(c.Query("after"), c.Query("before"), c.Query("sortOrder"), c.Query("maxResults"))
	if err != nil {
		return err
	}
	s, msgs, err := t.transcript(c)
	if err != nil {
		return err
	}
	byID := make(map[uint64]contract.Message, len(msgs))
	ids := make([]uint64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.Index
		byID[m.Index] = m
	}
	sel, next, prev := page(ids, q)
	base := conversationPath(s.ChatID) + "/messages"
	entities := make([]WebChatMessage, 0, len(sel))
	for _, id := range sel {
		w, _ := toWire(s.ChatID, byID[id])
		w.SelfURI = base + "/" + w.ID
		entities = append(entities, w)
	}
	out := map[string]any{"pageSize": q.Max, "entities": entities, "selfUri": base + q.encode()}
	if next != nil {
		out["next"] = base + next.encode()
	}
	if prev != nil {
		out["previousPage"] = base + prev.encode()
	}
	return sendJSON(c, http.StatusOK, out)
}

// handleMessage is GET .../messages/{messageId}.
func (t *Transport) handleMessage(c *fiber.Ctx) error {
	id, err := strconv.ParseUint(c.Params("messageId"), 10, 64)
	if err != nil {
		return ErrNotFound
	}
	s, msgs, err := t.transcript(c)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Index == id {
			w, _ := toWire(s.ChatID, m)
			w.SelfURI = conversationPath(s.ChatID) + "/messages/" + w.ID
			return sendJSON(c, http.StatusOK, w)
		}
	}
	return ErrNotFound
}

// chatMembers replays the transcript into the conversation's members; the
// guest's own carries the avatar and custom fields given at create.
func (t *Transport) chatMembers(c *fiber.Ctx) (session, []WebChatMember, error) {
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, s, err := t.request(ctx, c)
	if err != nil {
		return s, nil, err
	}
	msgs, err := t.readLog(ctx, caller, s.ParticipantID)
	if err != nil {
		return s, nil, err
	}
	sd, err := call[contract.SessionData](ctx, t, caller, contract.GetSessionData, contract.GetSessionDataOptions{UserData: true})
	if err != nil {
		return s, nil, err
	}
	var userData map[string]any
	_ = json.Unmarshal(sd.UserData, &userData) // an object, or null
	list := members(msgs, s.ParticipantID, s.ended(), 0)
	for i := range list {
		if list[i].ID == s.ParticipantID {
			list[i].AvatarImageURL, list[i].CustomFields = guestProfile(userData)
		}
	}
	return s, list, nil
}

// handleMembers is GET .../members, paged by pageSize and pageNumber.
func (t *Transport) handleMembers(c *fiber.Ctx) error {
	size, err := strconv.Atoi(c.Query("pageSize", "25"))
	if err != nil || size < 1 || size > 100 {
		return badRequest(`"pageSize" must be a number from 1 to 100`)
	}
	number, err := strconv.Atoi(c.Query("pageNumber", "1"))
	if err != nil || number < 1 {
		return badRequest(`"pageNumber" must be a positive number`)
	}
	exclude := strings.EqualFold(c.Query("excludeDisconnectedMembers"), "true")
	s, all, err := t.chatMembers(c)
	if err != nil {
		return err
	}
	list := all[:0]
	for _, m := range all {
		if !exclude || m.State == StateConnected {
			list = append(list, m)
		}
	}
	pages := (len(list) + size - 1) / size
	from := min((number-1)*size, len(list))
	entities := append([]WebChatMember{}, list[from:min(from+size, len(list))]...)
	base := conversationPath(s.ChatID) + "/members"
	uri := func(n int) string {
		return base + "?pageSize=" + strconv.Itoa(size) + "&pageNumber=" + strconv.Itoa(n) +
			"&excludeDisconnectedMembers=" + strconv.FormatBool(exclude)
	}
	out := map[string]any{"entities": entities, "pageSize": size, "pageNumber": number, "total": len(list),
		"pageCount": pages, "selfUri": uri(number), "firstUri": uri(1), "lastUri": uri(max(pages, 1))}
	if number < pages {
		out["nextUri"] = uri(number + 1)
	}
	if number > 1 {
		out["previousUri"] = uri(number - 1)
	}
	return sendJSON(c, http.StatusOK, out)
}

// handleMember is GET .../members/{memberId}.
func (t *Transport) handleMember(c *fiber.Ctx) error {
	_, all, err := t.chatMembers(c)
	if err != nil {
		return err
	}
	id := c.Params("memberId")
	for _, m := range all {
		if m.ID == id {
			return sendJSON(c, http.StatusOK, m)
		}
	}
	return ErrNotFound
}
