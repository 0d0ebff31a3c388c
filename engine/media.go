package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Media requests: an agent asks the visitor for a file (Genesys Cloud guest
// chat's media requests). Each is a run of Notice events of the chat's log,
// each carrying {"mediaRequest":{...}} in its data: the request itself, in
// state PENDING with the media types asked for, then each change of state.
// A request's id is the seq of its first notice, in decimal.

// MediaState is the state of a media request; the WebChatService contract
// owns the states, as the visitor answers with them.
type MediaState = contract.MediaState

// Media request states, as Genesys names them.
const (
	MediaPending  = contract.MediaPending
	MediaAccepted = contract.MediaAccepted
	MediaDeclined = contract.MediaDeclined
	MediaErrored  = contract.MediaErrored
	MediaSuccess  = contract.MediaSuccess
)

// MediaRequest is a media request as its notices leave it.
type MediaRequest = contract.MediaRequest

// mediaData is the data of a media request's notices.
type mediaData struct {
	MediaRequest *struct {
		ID    string     `json:"id,omitempty"` // absent on the request itself: its own seq
		Types []string   `json:"types,omitempty"`
		State MediaState `json:"state"`
	} `json:"mediaRequest"`
}

// IsMediaRequest reports whether ev is a notice of a media request, and
// whether it is the request itself (true) or a change of its state.
func IsMediaRequest(ev model.Event) (ok, request bool) {
	if ev.Type != model.EventNotice || len(ev.Data) == 0 {
		return false, false
	}
	var d mediaData
	if json.Unmarshal(ev.Data, &d) != nil || d.MediaRequest == nil {
		return false, false
	}
	return true, d.MediaRequest.ID == ""
}

// MediaRequests replays a chat's events into its media requests, oldest
// first.
func MediaRequests(evs []model.Event) []MediaRequest {
	var out []MediaRequest
	at := map[string]int{}
	for _, ev := range evs {
		if ev.Type != model.EventNotice || len(ev.Data) == 0 {
			continue
		}
		var d mediaData
		if json.Unmarshal(ev.Data, &d) != nil || d.MediaRequest == nil {
			continue
		}
		m := d.MediaRequest
		if m.ID == "" {
			id := strconv.FormatUint(ev.Seq, 10)
			at[id] = len(out)
			out = append(out, MediaRequest{ID: id, Types: m.Types, State: MediaPending, Requester: ev.From.ID,
				Time: ev.Time, Updated: ev.Time})
			continue
		}
		if i, ok := at[m.ID]; ok {
			out[i].State, out[i].Updated = m.State, ev.Time
		}
	}
	return out
}

// ChatMediaRequests reads a chat's whole log and replays its media requests.
func (e *Engine) ChatMediaRequests(ctx context.Context, chatID string) ([]MediaRequest, error) {
	var all []model.Event
	for after := uint64(0); ; {
		evs, err := e.EventsAfter(ctx, chatID, after, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
		if len(evs) < 1000 {
			return MediaRequests(all), nil
		}
		after = evs[len(evs)-1].Seq
	}
}

// MediaRequestEvent is the notice that asks the visitor for a file of types.
func MediaRequestEvent(from model.Party, types []string, now int64) model.Event {
	text := from.Name + " asks for a file."
	if len(types) > 0 {
		text = from.Name + " asks for a file (" + strings.Join(types, ", ") + ")."
	}
	data, _ := json.Marshal(map[string]any{"mediaRequest": map[string]any{"types": types, "state": MediaPending}})
	return model.Event{Type: model.EventNotice, From: from, Text: text, Time: now, Data: data}
}

// MediaStateEvent is the notice of request id's change to state.
func MediaStateEvent(from model.Party, id string, state MediaState, now int64) model.Event {
	var text string
	switch state {
	case MediaAccepted:
		text = from.Name + " accepted the file request."
	case MediaDeclined:
		text = from.Name + " declined the file request."
	case MediaSuccess:
		text = from.Name + " sent the requested file."
	case MediaErrored:
		text = "The requested file could not be sent."
	default:
		text = fmt.Sprintf("The file request is %s.", state)
	}
	data, _ := json.Marshal(map[string]any{"mediaRequest": map[string]any{"id": id, "state": state}})
	return model.Event{Type: model.EventNotice, From: from, Text: text, Time: now, Data: data}
}

// MatchesMediaTypes reports whether a file of MIME type typ and name answers
// a request for types: an empty list takes anything; an entry is a MIME type
// ("application/pdf"), a family ("image/*") or an extension (".pdf").
func MatchesMediaTypes(types []string, typ, name string) bool {
	if len(types) == 0 {
		return true
	}
	typ = strings.ToLower(typ)
	name = strings.ToLower(name)
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		switch {
		case t == typ, t == "*/*", t == "*":
			return true
		case strings.HasSuffix(t, "/*") && strings.HasPrefix(typ, strings.TrimSuffix(t, "*")):
			return true
		case strings.HasPrefix(t, ".") && strings.HasSuffix(name, t):
			return true
		}
	}
	return false
}
