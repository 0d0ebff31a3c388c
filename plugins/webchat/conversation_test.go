package webchat_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// started is startChat's resolution.
type started struct {
	ChatID        string `json:"chatId"`
	Token         string `json:"token"`
	Mode          string `json:"mode"`
	ParticipantID string `json:"participantId"`
	Seq           uint64 `json:"seq"`
}

type agentInfo struct {
	Name             string `json:"name"`
	Connected        bool   `json:"connected"`
	Supervisor       bool   `json:"supervisor"`
	ConnectedTime    int64  `json:"connectedTime"`
	DisconnectedTime int64  `json:"disconnectedTime"`
}

// newTestClients starts the demo gateway and returns a guest of deployment
// "demo" and the agent ann (offline until she sets her status).
func newTestClients(t *testing.T) (gw *servertest.Gateway, guest, ann *wiretest.HTTP) {
	t.Helper()
	gw = servertest.Start(t, servertest.Options{})
	guest = wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	ann = wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	return gw, guest, ann
}

func mustStart(t *testing.T, guest *wiretest.HTTP, options any) started {
	t.Helper()
	var st started
	guest.Command("WebChatService.startChat", options).Into(t, &st)
	return st
}

// queuedChats lists the ids of the chats waiting in ann's queues.
func queuedChats(t *testing.T, ann *wiretest.HTTP) []string {
	t.Helper()
	var l struct {
		Queued []struct {
			ChatID string `json:"chatId"`
		} `json:"queued"`
	}
	ann.Command("AgentService.listChats", nil).Into(t, &l)
	var ids []string
	for _, c := range l.Queued {
		ids = append(ids, c.ChatID)
	}
	return ids
}

func transcript(t *testing.T, visitor *wiretest.HTTP) []wiretest.Message {
	t.Helper()
	var tr struct {
		Messages []wiretest.Message `json:"messages"`
	}
	visitor.Command("WebChatService.getTranscript", nil).Into(t, &tr)
	if tr.Messages == nil {
		t.Fatalf("getTranscript: messages is not a list")
	}
	return tr.Messages
}

func TestStartChat(t *testing.T) {
	_, guest, ann := newTestClients(t)

	t.Run("OK", func(t *testing.T) {
		r := guest.Command("WebChatService.startChat", map[string]any{"nickname": "Rita", "subject": "returns"})
		var fields map[string]json.RawMessage
		r.Into(t, &fields)
		for _, k := range []string{"chatId", "token", "mode", "participantId", "seq"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("startChat resolves without %q: %s", k, r.Data)
			}
		}
		var st started
		r.Into(t, &st)
		if st.ChatID == "" || st.Token == "" || st.ParticipantID == "" {
			t.Errorf("startChat: empty ids in %s", r.Data)
		}
		if st.Mode != "live" || st.Seq != 1 {
			t.Errorf("startChat: mode %q seq %d, want live 1", st.Mode, st.Seq)
		}
		msgs := transcript(t, guest.WithToken(st.Token))
		if len(msgs) != 1 || msgs[0].Type != "ParticipantJoined" || msgs[0].Index != 1 ||
			msgs[0].From.Type != "Client" || msgs[0].From.Name != "Rita" || msgs[0].From.ParticipantID != st.ParticipantID {
			t.Errorf("transcript of a new chat: %+v", msgs)
		}
	})

	t.Run("Async", func(t *testing.T) {
		st := mustStart(t, guest.WithDeployment("demo-async"), nil)
		if st.Mode != "async" {
			t.Errorf("demo-async: mode %q, want async", st.Mode)
		}
	})

	t.Run("RetrySameRequestID", func(t *testing.T) {
		before := queuedChats(t, ann)
		opts := map[string]any{"nickname": "Rita", "requestId": "start-0123456789abcdef"}
		first := mustStart(t, guest, opts)
		again := mustStart(t, guest, opts)
		if again.ChatID != first.ChatID || again.Token != first.Token {
			t.Fatalf("retried startChat: got chat %s token %s, want chat %s token %s", again.ChatID, again.Token, first.ChatID, first.Token)
		}
		after := queuedChats(t, ann)
		if len(after) != len(before)+1 || !slices.Contains(after, first.ChatID) {
			t.Errorf("queued before %v, after a start and its retry %v: want exactly %s more", before, after, first.ChatID)
		}
		if msgs := transcript(t, guest.WithToken(first.Token)); len(msgs) != 1 {
			t.Errorf("the retry appended to the chat: %+v", msgs)
		}
		other := mustStart(t, guest, map[string]any{"nickname": "Rita", "requestId": "start-fedcba9876543210"})
		if other.ChatID == first.ChatID || other.Token == first.Token {
			t.Errorf("another requestId returned the same chat %s", other.ChatID)
		}
		// The same request id on another deployment is another chat.
		elsewhere := mustStart(t, guest.WithDeployment("demo-async"), opts)
		if elsewhere.ChatID == first.ChatID || elsewhere.Token == first.Token {
			t.Errorf("the same requestId on demo-async returned the demo chat %s", elsewhere.ChatID)
		}
	})

	t.Run("ShortRequestID", func(t *testing.T) {
		r := guest.Command("WebChatService.startChat", map[string]any{"requestId": "short"})
		if e := r.Rejected(t); r.HTTPStatus != 400 || e.Code != "invalid_request" {
			t.Errorf("requestId of 5 characters: HTTP %d %+v", r.HTTPStatus, e)
		}
	})
}

func TestSendMessage(t *testing.T) {
	_, guest, _ := newTestClients(t)
	st := mustStart(t, guest, map[string]any{"nickname": "Rita"})
	visitor := guest.WithToken(st.Token)

	type sent struct {
		Seq       uint64 `json:"seq"`
		Index     uint64 `json:"index"`
		Timestamp int64  `json:"timestamp"`
	}
	send := func(opts map[string]any) sent {
		t.Helper()
		var s sent
		visitor.Command("WebChatService.sendMessage", opts).Into(t, &s)
		return s
	}
	first := send(map[string]any{"message": "where is my parcel?", "requestId": "msg-0001"})
	if first.Seq != 2 || first.Index != first.Seq || first.Timestamp <= 0 {
		t.Errorf("sendMessage: %+v, want seq 2 = index, a timestamp", first)
	}
	again := send(map[string]any{"message": "where is my parcel?", "requestId": "msg-0001"})
	if again != first {
		t.Errorf("retried sendMessage: %+v, want %+v", again, first)
	}
	next := send(map[string]any{"message": "<b>hello</b> & bye"})
	if next.Seq != first.Seq+1 {
		t.Errorf("next sendMessage: seq %d, want %d", next.Seq, first.Seq+1)
	}

	msgs := transcript(t, visitor)
	var texts []string
	for _, m := range msgs[1:] {
		texts = append(texts, m.Text)
		if m.Type != "Message" || m.From.Type != "Client" || m.From.ParticipantID != st.ParticipantID {
			t.Errorf("transcript entry %+v", m)
		}
	}
	if want := []string{"where is my parcel?", "<b>hello</b> & bye"}; !reflect.DeepEqual(texts, want) {
		t.Errorf("transcript texts %q, want %q (the retry appended once, text as sent)", texts, want)
	}
	if msgs[1].RequestID != "msg-0001" || msgs[1].Index != first.Seq {
		t.Errorf("transcript entry of the idempotent send: %+v", msgs[1])
	}

	var notice sent
	visitor.Command("WebChatService.sendCustomNotice", map[string]any{"message": "cart:42"}).Into(t, &notice)
	if notice.Seq != next.Seq+1 {
		t.Errorf("sendCustomNotice: seq %d, want %d", notice.Seq, next.Seq+1)
	}
	var filtered sent
	visitor.Command("WebChatService.sendFilteredMessage", map[string]any{"message": "code 1234", "regex": "[0-9]{4}"}).Into(t, &filtered)
	msgs = transcript(t, visitor)
	last := msgs[len(msgs)-1]
	var raw []map[string]any
	var tr struct {
		Messages []map[string]any `json:"messages"`
	}
	visitor.Command("WebChatService.getTranscript", nil).Into(t, &tr)
	raw = tr.Messages
	if last.Index != filtered.Seq || last.Text != "code 1234" || raw[len(raw)-1]["filter"] != "[0-9]{4}" {
		t.Errorf("filtered message in the transcript: %v", raw[len(raw)-1])
	}
	if typ := msgs[len(msgs)-2].Type; typ != "CustomNotice" {
		t.Errorf("custom notice has type %q", typ)
	}

	var pf struct {
		Filters []string `json:"filters"`
	}
	visitor.Command("WebChatService.addPrefilter", map[string]any{"filters": "[0-9]+"}).Into(t, &pf)
	if !reflect.DeepEqual(pf.Filters, []string{"[0-9]+"}) {
		t.Errorf("addPrefilter with one regex: %v", pf.Filters)
	}
	visitor.Command("WebChatService.addPrefilter", map[string]any{"filters": []string{"a+", "b+"}}).Into(t, &pf)
	if !reflect.DeepEqual(pf.Filters, []string{"a+", "b+"}) {
		t.Errorf("addPrefilter with two: %v", pf.Filters)
	}
}

func TestUpdateUserData(t *testing.T) {
	_, guest, ann := newTestClients(t)

	t.Run("BeforeChat", func(t *testing.T) {
		var got map[string]any
		guest.Command("WebChatService.updateUserData", map[string]any{"cart": 42.0, "tier": "gold"}).Into(t, &got)
		if want := map[string]any{"source": "demo", "cart": 42.0, "tier": "gold"}; !reflect.DeepEqual(got, want) {
			t.Errorf("updateUserData before a chat: %v, want the deployment default merged: %v", got, want)
		}
		got = nil // a stateless guest: nothing of the first update remains
		guest.Command("WebChatService.updateUserData", map[string]any{"source": "ads"}).Into(t, &got)
		if want := map[string]any{"source": "ads"}; !reflect.DeepEqual(got, want) {
			t.Errorf("updateUserData overriding the default: %v, want %v", got, want)
		}
	})

	t.Run("DuringChat", func(t *testing.T) {
		st := mustStart(t, guest, map[string]any{"userData": map[string]any{"cart": 1.0}})
		visitor := guest.WithToken(st.Token)
		var got struct {
			UserData map[string]any `json:"userData"`
		}
		visitor.Command("WebChatService.updateUserData", map[string]any{"tier": "gold"}).Into(t, &got)
		want := map[string]any{"source": "demo", "cart": 1.0, "tier": "gold"}
		if !reflect.DeepEqual(got.UserData, want) {
			t.Errorf("updateUserData during a chat: %v, want %v", got.UserData, want)
		}
		// It persisted: a second update merges over it, and the agent sees it.
		got.UserData = nil
		visitor.Command("WebChatService.updateUserData", map[string]any{"cart": 2.0}).Into(t, &got)
		want["cart"] = 2.0
		if !reflect.DeepEqual(got.UserData, want) {
			t.Errorf("second updateUserData: %v, want %v", got.UserData, want)
		}
		var tr struct {
			Chat struct {
				UserData map[string]any `json:"userData"`
			} `json:"chat"`
		}
		ann.Command("AgentService.getTranscript", map[string]any{"chatId": st.ChatID}).Into(t, &tr)
		if !reflect.DeepEqual(tr.Chat.UserData, want) {
			t.Errorf("stored userData: %v, want %v", tr.Chat.UserData, want)
		}
		// Updates are not messages.
		if msgs := transcript(t, visitor); len(msgs) != 1 {
			t.Errorf("updateUserData added to the transcript: %+v", msgs)
		}
	})
}

func TestSessionCommands(t *testing.T) {
	_, guest, ann := newTestClients(t)
	st := mustStart(t, guest, map[string]any{"nickname": "Rita"})
	visitor := guest.WithToken(st.Token)

	verify := func(c *wiretest.HTTP) bool {
		t.Helper()
		var v map[string]any
		c.Command("WebChatService.verifySession", nil).Into(t, &v)
		active, ok := v["sessionActive"].(bool)
		if !ok || len(v) != 1 {
			t.Fatalf("verifySession: %v", v)
		}
		return active
	}
	if verify(guest) {
		t.Errorf("verifySession without a token: true")
	}
	if !verify(visitor) {
		t.Errorf("verifySession of a queued chat: false")
	}

	var sd map[string]any
	visitor.Command("WebChatService.getSessionData", nil).Into(t, &sd)
	for k, want := range map[string]any{"chatId": st.ChatID, "participantId": st.ParticipantID, "mode": "live",
		"deployment": "demo", "seq": 1.0} {
		if sd[k] != want {
			t.Errorf("getSessionData[%q] = %v, want %v (all: %v)", k, sd[k], want, sd)
		}
	}

	var agents struct {
		Agents []agentInfo `json:"agents"`
	}
	visitor.Command("WebChatService.getAgents", nil).Into(t, &agents)
	if agents.Agents == nil || len(agents.Agents) != 0 {
		t.Errorf("getAgents of a queued chat: %+v, want []", agents.Agents)
	}

	// Ann comes online and routing gives her the chat.
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		visitor.Command("WebChatService.getAgents", nil).Into(t, &agents)
		return len(agents.Agents) == 1
	})
	a := agents.Agents[0]
	if a.Name != "Ann" || !a.Connected || a.Supervisor || a.ConnectedTime <= 0 || a.DisconnectedTime != 0 {
		t.Errorf("getAgents: %+v", a)
	}

	var stats struct {
		Agents    []agentInfo `json:"agents"`
		StartTime int64       `json:"startTime"`
		EndTime   int64       `json:"endTime"`
		Duration  int64       `json:"duration"`
	}
	visitor.Command("WebChatService.getStats", nil).Into(t, &stats)
	if len(stats.Agents) != 1 || stats.StartTime <= 0 || stats.EndTime != 0 || stats.Duration < 0 {
		t.Errorf("getStats of a live chat: %+v", stats)
	}

	var restored map[string]any
	visitor.Command("WebChatService.restore", nil).Into(t, &restored)
	if restored["chatId"] != st.ChatID || restored["restored"] != true || restored["mode"] != "live" || restored["seq"] != 2.0 {
		t.Errorf("restore: %v", restored)
	}
	for _, cmd := range []string{"startPoll", "stopPoll", "resetPollExceptions"} {
		if d := visitor.Command("WebChatService."+cmd, nil).Resolved(t); string(d) != "{}" {
			t.Errorf("%s resolves %s, want {}", cmd, d)
		}
	}

	var end map[string]bool
	visitor.Command("WebChatService.endChat", nil).Into(t, &end)
	if !end["ended"] {
		t.Errorf("endChat: %v", end)
	}
	if verify(visitor) {
		t.Errorf("verifySession after endChat: true")
	}
	visitor.Command("WebChatService.getStats", nil).Into(t, &stats)
	if stats.EndTime < stats.StartTime || stats.Duration != stats.EndTime-stats.StartTime {
		t.Errorf("getStats of an ended chat: %+v", stats)
	}
	if len(stats.Agents) != 1 || stats.Agents[0].Connected || stats.Agents[0].DisconnectedTime != stats.EndTime {
		t.Errorf("getStats agents of an ended chat: %+v", stats.Agents)
	}
	// The transcript stays readable: joined, joined, left (visitor), left (agent).
	var types []string
	for _, m := range transcript(t, visitor) {
		types = append(types, m.Type+"/"+m.From.Type)
	}
	want := []string{"ParticipantJoined/Client", "ParticipantJoined/Agent", "ParticipantLeft/Client", "ParticipantLeft/Agent"}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("transcript after endChat: %v, want %v", types, want)
	}
}

func TestFetchHistory(t *testing.T) {
	_, guest, _ := newTestClients(t)
	st := mustStart(t, guest.WithDeployment("demo-async"), map[string]any{"nickname": "Rita"})
	visitor := guest.WithToken(st.Token)
	var seqs []uint64
	for _, text := range []string{"one", "two", "three"} {
		var sent struct {
			Seq uint64 `json:"seq"`
		}
		visitor.Command("WebChatService.sendMessage", map[string]any{"message": text}).Into(t, &sent)
		seqs = append(seqs, sent.Seq)
	}
	var h struct {
		Messages []wiretest.Message `json:"messages"`
		Oldest   uint64             `json:"oldest"`
	}
	// Pages count the messages a visitor sees, newest last, before a seq.
	visitor.Command("WebChatService.fetchHistory", map[string]any{"before": seqs[2], "limit": 2}).Into(t, &h)
	if len(h.Messages) != 2 || h.Messages[0].Text != "one" || h.Messages[1].Text != "two" || h.Oldest != seqs[0] {
		t.Errorf("fetchHistory before %d, limit 2: %+v", seqs[2], h)
	}
	visitor.Command("WebChatService.fetchHistory", map[string]any{"before": h.Oldest}).Into(t, &h)
	if len(h.Messages) != 1 || h.Messages[0].Type != "ParticipantJoined" || h.Oldest != 1 {
		t.Errorf("fetchHistory before %d: %+v", seqs[0], h)
	}
	visitor.Command("WebChatService.fetchHistory", map[string]any{"limit": 10}).Into(t, &h)
	if len(h.Messages) != 4 || h.Messages[3].Text != "three" {
		t.Errorf("fetchHistory of the newest page: %+v", h)
	}
	r := visitor.Command("WebChatService.fetchHistory", map[string]any{"before": 1})
	if e := r.Rejected(t); e.Code != "no_more_messages" || e.Message != "No more messages to fetch." {
		t.Errorf("fetchHistory before 1: %+v", e)
	}
}
