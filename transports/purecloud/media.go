package purecloud

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Media requests: an agent's request for a file (AgentService.requestFile),
// read and answered by the guest. They are WebChatService's media requests
// in Genesys' WebChatGuestMediaRequest shape.

// avatarKey is the userData key of the avatarImageUrl given at create.
const avatarKey = "avatarImageUrl"

// guestProfile splits a chat's userData into the guest member's avatar and
// its custom fields.
func guestProfile(userData map[string]any) (avatar string, custom map[string]any) {
	for k, v := range userData {
		if k == avatarKey {
			avatar, _ = v.(string)
			continue
		}
		if custom == nil {
			custom = map[string]any{}
		}
		custom[k] = v
	}
	return avatar, custom
}

func (t *Transport) toMediaRequest(chatID string, m contract.MediaRequest) MediaRequest {
	types := m.Types
	if types == nil {
		types = []string{}
	}
	return MediaRequest{ID: m.ID, Types: types, State: string(m.State),
		SelfURI: conversationPath(chatID) + "/mediarequests/" + m.ID}
}

// mediaRequests reads the media requests of the request's conversation.
func (t *Transport) mediaRequests(c *fiber.Ctx) (session, []contract.MediaRequest, error) {
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, s, err := t.request(ctx, c)
	if err != nil {
		return s, nil, err
	}
	res, err := call[contract.MediaRequests](ctx, t, caller, contract.GetMediaRequests, nil)
	return s, res.MediaRequests, err
}

// handleMediaRequests is GET .../mediarequests: {"entities":[...]}, empty
// when the agent has asked for nothing.
func (t *Transport) handleMediaRequests(c *fiber.Ctx) error {
	s, list, err := t.mediaRequests(c)
	if err != nil {
		return err
	}
	entities := make([]MediaRequest, 0, len(list))
	for _, m := range list {
		entities = append(entities, t.toMediaRequest(s.ChatID, m))
	}
	return sendJSON(c, http.StatusOK, map[string]any{"entities": entities})
}

// handleMediaRequest is GET .../mediarequests/{mediaRequestId}.
func (t *Transport) handleMediaRequest(c *fiber.Ctx) error {
	s, list, err := t.mediaRequests(c)
	if err != nil {
		return err
	}
	for _, m := range list {
		if m.ID == c.Params("mediaRequestId") {
			return sendJSON(c, http.StatusOK, t.toMediaRequest(s.ChatID, m))
		}
	}
	return ErrNotFound
}

// handlePatchMediaRequest is PATCH .../mediarequests/{mediaRequestId}: the
// guest answers with a WebChatGuestMediaRequest whose state is ACCEPTED,
// DECLINED or ERRORED; its other fields are ignored.
func (t *Transport) handlePatchMediaRequest(c *fiber.Ctx) error {
	state, err := decodeMediaPatch(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, s, err := t.request(ctx, c)
	if err != nil {
		return err
	}
	m, err := call[contract.MediaRequest](ctx, t, caller, contract.AnswerMediaRequest,
		contract.AnswerMediaRequestOptions{ID: c.Params("mediaRequestId"), State: contract.MediaState(state)})
	if bus.CodeOf(err) == contract.CodeMediaRequestNotFound {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, t.toMediaRequest(s.ChatID, m))
}
