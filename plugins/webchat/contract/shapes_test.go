package contract_test

import (
	"encoding/json"
	"testing"

	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

func sameJSON(t *testing.T, name string, old, nw any) {
	a, _ := json.Marshal(old)
	b, _ := json.Marshal(nw)
	if string(a) != string(b) {
		t.Errorf("%s:\n map    %s\n struct %s", name, a, b)
	}
}

// The answers that were maps before the contract typed them encode to the
// same bytes: a map's keys in sorted order, the structs' fields declared so.
func TestShapes(t *testing.T) {
	agents := []contract.AgentInfo{{Name: "Ann", Connected: true, ConnectedTime: 5}}
	sameJSON(t, "stats", map[string]any{"agents": agents, "startTime": int64(1), "endTime": int64(0), "duration": int64(3)},
		contract.Stats{Agents: agents, StartTime: 1, EndTime: 0, Duration: 3})
	sameJSON(t, "agents", map[string]any{"agents": agents}, contract.Agents{Agents: agents})
	sameJSON(t, "restore", map[string]any{"chatId": "c", "mode": "live", "seq": uint64(4), "state": "active",
		"participantId": "p", "restored": true, "async": false, "read": uint64(0)},
		contract.Restored{ChatID: "c", Mode: "live", Seq: 4, State: "active", ParticipantID: "p", Restored: true})
	sameJSON(t, "restore2", map[string]any{"chatId": "c", "token": "tk", "mode": "async", "seq": uint64(4), "state": "idle",
		"participantId": "p", "restored": true, "async": true, "read": uint64(2), "identityToken": "it"},
		contract.Restored{ChatID: "c", Token: "tk", Mode: "async", Seq: 4, State: "idle", ParticipantID: "p", Restored: true, Async: true, Read: 2, IdentityToken: "it"})
	msgs := []contract.Message{{Index: 1, Type: "Message", Text: "hi"}}
	sameJSON(t, "history", map[string]any{"messages": msgs, "restoring": true, "oldest": uint64(1)}, contract.History{Messages: msgs, Restoring: true, Oldest: 1})
	sameJSON(t, "mr", map[string]any{"messages": msgs, "restoring": false}, contract.MessageReceived{Messages: msgs})
	w := int64(0)
	sameJSON(t, "qp", map[string]any{"position": 1, "queue": "q", "recentWait": w}, contract.QueuePosition{Position: 1, Queue: "q", RecentWait: &w})
	sameJSON(t, "qp0", map[string]any{"position": 0, "queue": ""}, contract.QueuePosition{})
	sameJSON(t, "sd", map[string]any{"sessionId": "c", "chatId": "c", "participantId": "p", "transportId": "d", "deployment": "d", "mode": "async", "seq": uint64(3), "state": "active", "sessionData": "x", "userData": json.RawMessage(`{"a":1}`)},
		contract.SessionData{SessionID: "c", ChatID: "c", ParticipantID: "p", TransportID: "d", Deployment: "d", Mode: "async", Seq: 3, State: "active", SessionData: "x", UserData: json.RawMessage(`{"a":1}`)})
	var nilUD json.RawMessage
	sameJSON(t, "sd-nil-ud", map[string]any{"sessionId": "c", "chatId": "c", "participantId": "p", "transportId": "d", "deployment": "d", "mode": "live", "seq": uint64(3), "state": "active", "userData": nilUD},
		contract.SessionData{SessionID: "c", ChatID: "c", ParticipantID: "p", TransportID: "d", Deployment: "d", Mode: "live", Seq: 3, State: "active", UserData: json.RawMessage("null")})
	sameJSON(t, "ended", map[string]bool{"ended": true}, contract.EndChatResult{Ended: true})
	sameJSON(t, "vs", map[string]bool{"sessionActive": false}, contract.VerifySessionResult{})
	sameJSON(t, "pf", map[string][]string{"filters": {"a"}}, contract.AddPrefilterResult{Filters: []string{"a"}})
	sameJSON(t, "tr", map[string]any{"messages": []contract.Message{}}, contract.Transcript{Messages: []contract.Message{}})
	sameJSON(t, "mreqs", map[string]any{"mediaRequests": []contract.MediaRequest{}}, contract.MediaRequests{MediaRequests: []contract.MediaRequest{}})
	sameJSON(t, "rate", map[string]any{"chatId": "c", "rating": 4, "comment": "", "timestamp": int64(9)},
		contract.RateChatResult{ChatID: "c", Rating: 4, Timestamp: 9})
	sameJSON(t, "left", map[string]any{"id": "m", "identityToken": "", "createdAt": int64(2)},
		contract.LeaveMessageResult{ID: "m", CreatedAt: 2})
	sameJSON(t, "leftList", map[string]any{"messages": []contract.LeftMessage{}}, contract.LeftMessages{Messages: []contract.LeftMessage{}})
	sameJSON(t, "context", map[string]any{"seq": uint64(3)}, contract.UpdateContextResult{Seq: 3})
	sameJSON(t, "read", map[string]uint64{"read": 3}, contract.MarkReadResult{Read: 3})
	sameJSON(t, "conversations", map[string]any{"conversations": []contract.Conversation{{ChatID: "c"}}},
		contract.Conversations{Conversations: []contract.Conversation{{ChatID: "c"}}})
	seq := uint64(1)
	sameJSON(t, "identify new", map[string]any{"newChat": true, "chatId": "c", "token": "t", "mode": "live", "participantId": "p", "seq": seq},
		contract.IdentifyResult{NewChat: true, ChatID: "c", Token: "t", Mode: "live", ParticipantID: "p", Seq: &seq})
	type storeProfile struct { // store.Profile's shape
		Nickname  string `json:"nickname,omitempty"`
		Firstname string `json:"firstname,omitempty"`
		Lastname  string `json:"lastname,omitempty"`
		Email     string `json:"email,omitempty"`
	}
	sameJSON(t, "identify same", map[string]any{"newChat": false, "chatId": "c", "participantId": "p", "visitor": storeProfile{Nickname: "R"}},
		contract.IdentifyResult{ChatID: "c", ParticipantID: "p", Visitor: &contract.Profile{Nickname: "R"}})
	sameJSON(t, "userData", map[string]json.RawMessage{"userData": json.RawMessage(`{"a":1}`)},
		contract.UpdateUserDataResult{UserData: json.RawMessage(`{"a":1}`)})
}
