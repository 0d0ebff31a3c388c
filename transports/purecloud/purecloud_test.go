package purecloud_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

const api = "/api/v2/webchat/guest"

// guest is a Genesys Cloud guest chat client of one conversation.
type guest struct {
	t      *testing.T
	base   string
	ID     string `json:"id"`
	JWT    string `json:"jwt"`
	Stream string `json:"eventStreamUri"`
	Member struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"member"`
}

// do sends one request and returns the status and body.
func do(t *testing.T, method, url, jwt string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			r = strings.NewReader(b)
		default:
			data, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			r = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// create starts a conversation on deployment "demo", queue "support".
func create(t *testing.T, gw *servertest.Gateway, name string) *guest {
	t.Helper()
	status, body := do(t, "POST", gw.URL+api+"/conversations", "", map[string]any{
		"organizationId": "org", "deploymentId": "demo",
		"routingTarget": map[string]any{"targetType": "QUEUE", "targetAddress": "support"},
		"memberInfo": map[string]any{"displayName": name, "role": "CUSTOMER",
			"customFields": map[string]any{"firstName": name, "email": "rita@example.com"}},
	})
	if status != http.StatusOK {
		t.Fatalf("create: HTTP %d %s", status, body)
	}
	g := &guest{t: t, base: gw.URL}
	decode(t, body, g)
	if g.ID == "" || g.JWT == "" || g.Member.ID == "" || g.Member.Role != "CUSTOMER" ||
		!strings.HasPrefix(g.Stream, "ws://"+gw.Addr+api+"/conversations/"+g.ID+"/stream?jwt=") {
		t.Fatalf("create answered %s", body)
	}
	return g
}

func (g *guest) url(path string) string { return g.base + api + "/conversations/" + g.ID + path }

func (g *guest) member(path string) string { return g.url("/members/" + g.Member.ID + path) }

// frame is an event stream frame.
type frame struct {
	TopicName string `json:"topicName"`
	Version   any    `json:"version"`
	EventBody struct {
		Message  string `json:"message"`
		ID       string `json:"id"`
		Body     string `json:"body"`
		BodyType string `json:"bodyType"`
		Sender   struct {
			ID string `json:"id"`
		} `json:"sender"`
		Conversation struct {
			ID string `json:"id"`
		} `json:"conversation"`
		Member struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"member"`
		Timestamp string `json:"timestamp"`
	} `json:"eventBody"`
	Metadata *struct {
		Type string `json:"type"`
	} `json:"metadata"`
}

func (f frame) kind() string {
	if f.Metadata == nil {
		return f.EventBody.Message
	}
	return f.Metadata.Type
}

// stream is the guest's event stream socket, read by its own goroutine.
type stream struct {
	conn   *fws.Conn
	frames chan frame
	done   chan struct{}
	err    error
}

func dialStream(t *testing.T, uri string) *stream {
	t.Helper()
	d := fws.Dialer{HandshakeTimeout: wiretest.Timeout}
	conn, resp, err := d.Dial(uri, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: HTTP %d: %v", uri, status, err)
	}
	s := &stream{conn: conn, frames: make(chan frame, 256), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				s.err = err
				return
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil {
				s.err = fmt.Errorf("frame %s: %w", data, err)
				return
			}
			s.frames <- f
		}
	}()
	t.Cleanup(func() { conn.Close(); <-s.done })
	// The first frame is a heartbeat, sent once the stream is subscribed.
	if f := s.next(t); f.kind() != "WebSocket Heartbeat" || f.TopicName != "channel.metadata" {
		t.Fatalf("first frame %+v, want a heartbeat", f)
	}
	return s
}

func (s *stream) next(t *testing.T) frame {
	t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-s.done:
		t.Fatalf("stream ended: %v", s.err)
	case <-time.After(wiretest.Timeout):
		t.Fatalf("no frame within %v", wiretest.Timeout)
	}
	return frame{}
}

// until returns the first frame of the metadata type typ for which ok holds,
// skipping others (heartbeats, other members' changes).
func (s *stream) until(t *testing.T, typ string, ok func(frame) bool) frame {
	t.Helper()
	for {
		if f := s.next(t); f.kind() == typ && (ok == nil || ok(f)) {
			return f
		}
	}
}

type entityList struct {
	PageSize int `json:"pageSize"`
	Entities []struct {
		ID       string `json:"id"`
		Body     string `json:"body"`
		BodyType string `json:"bodyType"`
		Sender   struct {
			ID string `json:"id"`
		} `json:"sender"`
	} `json:"entities"`
	Next         string `json:"next"`
	PreviousPage string `json:"previousPage"`
}

func (g *guest) messages(query string) entityList {
	g.t.Helper()
	status, body := do(g.t, "GET", g.url("/messages")+query, g.JWT, nil)
	if status != http.StatusOK {
		g.t.Fatalf("GET messages%s: HTTP %d %s", query, status, body)
	}
	var l entityList
	decode(g.t, body, &l)
	return l
}

// TestConversation runs a whole chat: the guest over guest chat v2, the agent
// over the native socket.
func TestConversation(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	g := create(t, gw, "Rita")
	s := dialStream(t, g.Stream)

	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)

	// Routing gives the chat to Ann: her join reaches the guest.
	join := s.until(t, "message", func(f frame) bool { return f.EventBody.BodyType == "member-join" })
	annID := join.EventBody.Sender.ID
	if annID == "" || annID == g.Member.ID || join.TopicName != "v2.conversations.chats."+g.ID+".messages" ||
		join.EventBody.Conversation.ID != g.ID || join.Version != "2" {
		t.Fatalf("join frame %+v", join)
	}
	if f := s.until(t, "member-change", nil); f.EventBody.Member.ID != annID || f.EventBody.Member.State != "CONNECTED" ||
		f.TopicName != "v2.conversations.chats."+g.ID+".members" || f.Version != "2" {
		t.Fatalf("member-change %+v", f)
	}
	var m struct {
		Role        string `json:"role"`
		State       string `json:"state"`
		DisplayName string `json:"displayName"`
	}
	status, body := do(t, "GET", g.url("/members/"+annID), g.JWT, nil)
	decode(t, body, &m)
	if status != http.StatusOK || m.Role != "AGENT" || m.State != "CONNECTED" || m.DisplayName != "Ann" {
		t.Fatalf("GET member %s: HTTP %d %s", annID, status, body)
	}

	// Ann answers.
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": g.ID, "message": "Hi Rita, Ann here."}).Resolved(t)
	f := s.until(t, "message", nil)
	if f.EventBody.BodyType != "standard" || f.EventBody.Body != "Hi Rita, Ann here." || f.EventBody.Sender.ID != annID {
		t.Fatalf("agent message frame %+v", f)
	}

	// Ann types.
	ann.Command("AgentService.sendTyping", map[string]any{"chatId": g.ID, "isTyping": true}).Resolved(t)
	if f := s.until(t, "typing-indicator", nil); f.EventBody.Sender.ID != annID || f.EventBody.Conversation.ID != g.ID || f.Version != "2" {
		t.Fatalf("typing frame %+v", f)
	}

	// The guest types and sends; Ann hears both.
	if status, body := do(t, "POST", g.member("/typing"), g.JWT, nil); status != http.StatusOK {
		t.Fatalf("typing: HTTP %d %s", status, body)
	}
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.visitorTyping" })
	status, body = do(t, "POST", g.member("/messages"), g.JWT, map[string]any{"body": "My order is late.", "bodyType": "standard"})
	var sent struct {
		ID       string `json:"id"`
		Body     string `json:"body"`
		BodyType string `json:"bodyType"`
		Sender   struct {
			ID string `json:"id"`
		} `json:"sender"`
	}
	decode(t, body, &sent)
	if status != http.StatusOK || sent.ID == "" || sent.Body != "My order is late." || sent.Sender.ID != g.Member.ID {
		t.Fatalf("send: HTTP %d %s", status, body)
	}
	got := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.messageReceived" })
	if ms := got[len(got)-1].Messages(t); len(ms) != 1 || ms[0].Text != "My order is late." || ms[0].From.Type != "Client" {
		t.Fatalf("Ann got %s", got[len(got)-1].Data)
	}
	if f := s.until(t, "message", nil); f.EventBody.ID != sent.ID || f.EventBody.Sender.ID != g.Member.ID {
		t.Fatalf("own message frame %+v", f)
	}

	// History: every message, in order; pages follow "next".
	want := []string{"member-join:" + g.Member.ID, "member-join:" + annID, "standard:Hi Rita, Ann here.", "standard:My order is late."}
	check := func(l entityList) {
		t.Helper()
		var have []string
		for _, e := range l.Entities {
			if e.BodyType == "standard" {
				have = append(have, e.BodyType+":"+e.Body)
			} else {
				have = append(have, e.BodyType+":"+e.Sender.ID)
			}
		}
		if fmt.Sprint(have) != fmt.Sprint(want) {
			t.Fatalf("history %v, want %v", have, want)
		}
	}
	all := g.messages("")
	check(all)
	if all.Next != "" || all.PageSize != 100 {
		t.Fatalf("one page has next %q, pageSize %d", all.Next, all.PageSize)
	}
	// The widget's getAllMessages: follow next from the start, two at a time.
	var paged entityList
	for q := "?maxResults=2"; ; {
		l := g.messages(q)
		paged.Entities = append(paged.Entities, l.Entities...)
		if l.Next == "" {
			break
		}
		q = strings.TrimPrefix(l.Next, api+"/conversations/"+g.ID+"/messages")
	}
	check(paged)
	// After a reconnect: what came after a message id.
	if l := g.messages("?after=" + all.Entities[1].ID); len(l.Entities) != 2 || l.Entities[0].Body != "Hi Rita, Ann here." {
		t.Fatalf("after %s: %+v", all.Entities[1].ID, l)
	}
	// The widget's fetchHistory: the newest page first, descending, next older.
	desc := g.messages("?sortOrder=descending&maxResults=3")
	if len(desc.Entities) != 3 || desc.Entities[0].Body != "My order is late." || desc.Next == "" {
		t.Fatalf("newest page %+v", desc)
	}
	older := g.messages("?sortOrder=descending&maxResults=3&before=" + desc.Entities[2].ID)
	if len(older.Entities) != 1 || older.Entities[0].Sender.ID != g.Member.ID || older.Next != "" {
		t.Fatalf("older page %+v", older)
	}

	// Members: the guest and Ann, both connected.
	var ml struct {
		Entities []struct {
			ID    string `json:"id"`
			Role  string `json:"role"`
			State string `json:"state"`
		} `json:"entities"`
		Total int `json:"total"`
	}
	status, body = do(t, "GET", g.url("/members"), g.JWT, nil)
	decode(t, body, &ml)
	if status != http.StatusOK || ml.Total != 2 || ml.Entities[0].ID != g.Member.ID || ml.Entities[0].Role != "CUSTOMER" ||
		ml.Entities[1].ID != annID || ml.Entities[1].State != "CONNECTED" {
		t.Fatalf("members: HTTP %d %s", status, body)
	}

	// The guest leaves: the stream says so, Ann hears the end.
	if status, body := do(t, "DELETE", g.member(""), g.JWT, nil); status != http.StatusNoContent {
		t.Fatalf("leave: HTTP %d %s", status, body)
	}
	if f := s.until(t, "message", func(f frame) bool { return f.EventBody.BodyType == "member-leave" }); f.EventBody.Sender.ID != g.Member.ID {
		t.Fatalf("leave frame %+v", f)
	}
	s.until(t, "member-change", func(f frame) bool {
		return f.EventBody.Member.ID == g.Member.ID && f.EventBody.Member.State == "DISCONNECTED"
	})
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatEnded" })
	status, body = do(t, "GET", g.member(""), g.JWT, nil)
	decode(t, body, &m)
	if status != http.StatusOK || m.State != "DISCONNECTED" || m.Role != "CUSTOMER" {
		t.Fatalf("own member after leave: HTTP %d %s", status, body)
	}
	// Leaving again is no error; sending is refused as Genesys does.
	if status, body := do(t, "DELETE", g.member(""), g.JWT, nil); status != http.StatusNoContent {
		t.Fatalf("second leave: HTTP %d %s", status, body)
	}
	status, body = do(t, "POST", g.member("/messages"), g.JWT, map[string]any{"body": "hello?"})
	var e apiError
	decode(t, body, &e)
	if status != http.StatusBadRequest || e.Code != "chat.error.conversation.state" || e.Status != 400 {
		t.Fatalf("send after leave: HTTP %d %s", status, body)
	}
}

// TestAgentEnds: a chat the agent ends tells the guest its own member left.
func TestAgentEnds(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	g := create(t, gw, "Rita")
	s := dialStream(t, g.Stream)
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	s.until(t, "message", func(f frame) bool {
		return f.EventBody.BodyType == "member-join" && f.EventBody.Sender.ID != g.Member.ID
	})
	ann.Command("AgentService.endChat", map[string]any{"chatId": g.ID}).Resolved(t)
	leave := s.until(t, "message", func(f frame) bool {
		return f.EventBody.BodyType == "member-leave" && f.EventBody.Sender.ID == g.Member.ID
	})
	s.until(t, "member-change", func(f frame) bool {
		return f.EventBody.Member.ID == g.Member.ID && f.EventBody.Member.State == "DISCONNECTED"
	})
	var m struct {
		State     string `json:"state"`
		LeaveDate string `json:"leaveDate"`
	}
	status, body := do(t, "GET", g.member(""), g.JWT, nil)
	decode(t, body, &m)
	if status != http.StatusOK || m.State != "DISCONNECTED" || m.LeaveDate != leave.EventBody.Timestamp {
		t.Fatalf("own member: HTTP %d %s, want DISCONNECTED with leaveDate %s", status, body, leave.EventBody.Timestamp)
	}
	// What the stream sent is readable over REST, with the same id.
	var got struct {
		ID        string `json:"id"`
		BodyType  string `json:"bodyType"`
		Timestamp string `json:"timestamp"`
		Sender    struct {
			ID string `json:"id"`
		} `json:"sender"`
	}
	status, body = do(t, "GET", g.url("/messages/"+leave.EventBody.ID), g.JWT, nil)
	decode(t, body, &got)
	if status != http.StatusOK || got.ID != leave.EventBody.ID || got.BodyType != "member-leave" || got.Sender.ID != g.Member.ID ||
		got.Timestamp != leave.EventBody.Timestamp {
		t.Fatalf("GET messages/%s: HTTP %d %s", leave.EventBody.ID, status, body)
	}
	all := g.messages("")
	if last := all.Entities[len(all.Entities)-1]; last.ID != leave.EventBody.ID || last.BodyType != "member-leave" {
		t.Fatalf("GET messages ends with %+v, want the leave %s", last, leave.EventBody.ID)
	}
}

// TestMemberProfile: the avatarImageUrl and customFields given at create
// are the guest member's, in GET .../members and .../members/{id}.
func TestMemberProfile(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	status, body := do(t, "POST", gw.URL+api+"/conversations", "", map[string]any{
		"organizationId": "org", "deploymentId": "demo",
		"memberInfo": map[string]any{"displayName": "Rita", "avatarImageUrl": "https://cdn.example/rita.png",
			"customFields": map[string]any{"firstName": "Rita", "subject": "billing"}},
	})
	if status != http.StatusOK {
		t.Fatalf("create: HTTP %d %s", status, body)
	}
	g := &guest{t: t, base: gw.URL}
	decode(t, body, g)
	type member struct {
		ID           string            `json:"id"`
		Avatar       string            `json:"avatarImageUrl"`
		CustomFields map[string]string `json:"customFields"`
	}
	check := func(m member, where string) {
		t.Helper()
		if m.ID != g.Member.ID || m.Avatar != "https://cdn.example/rita.png" || m.CustomFields["firstName"] != "Rita" ||
			m.CustomFields["subject"] != "billing" {
			t.Fatalf("%s: %+v", where, m)
		}
	}
	var one member
	status, body = do(t, "GET", g.member(""), g.JWT, nil)
	decode(t, body, &one)
	if status != http.StatusOK {
		t.Fatalf("GET member: HTTP %d %s", status, body)
	}
	check(one, "GET members/{id}")
	var list struct {
		Entities []member `json:"entities"`
	}
	status, body = do(t, "GET", g.url("/members"), g.JWT, nil)
	decode(t, body, &list)
	if status != http.StatusOK || len(list.Entities) != 1 {
		t.Fatalf("GET members: HTTP %d %s", status, body)
	}
	check(list.Entities[0], "GET members")
}

type apiError struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	Status    int    `json:"status"`
	ContextID string `json:"contextId"`
	Details   []struct {
		ErrorCode string `json:"errorCode"`
	} `json:"details"`
}

// TestRefusals: tokens, conversations and members that are not the caller's,
// and bodies that are not the documented shape, in Genesys' error shape.
func TestRefusals(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	g := create(t, gw, "Rita")
	other := create(t, gw, "Otto")
	for _, tc := range []struct {
		name, method, url, jwt string
		body                   any
		status                 int
		code                   string
	}{
		{"NoToken", "GET", g.url("/messages"), "", nil, 401, "authentication.required"},
		{"WrongToken", "GET", g.url("/messages"), "not-a-token", nil, 401, "bad.credentials"},
		{"WrongTokenSend", "POST", g.member("/messages"), "not-a-token", map[string]any{"body": "x"}, 401, "bad.credentials"},
		{"AgentToken", "GET", g.url("/messages"), gw.AgentToken, nil, 403, "not.authorized"},
		{"OtherConversation", "GET", other.url("/messages"), g.JWT, nil, 404, "not.found"},
		{"OtherConversationSend", "POST", other.member("/messages"), g.JWT, map[string]any{"body": "x"}, 404, "not.found"},
		{"OtherConversationLeave", "DELETE", other.member(""), g.JWT, nil, 404, "not.found"},
		{"OtherMember", "POST", g.url("/members/" + other.Member.ID + "/messages"), g.JWT, map[string]any{"body": "x"}, 403, "not.authorized"},
		{"UnknownMember", "GET", g.url("/members/nobody"), g.JWT, nil, 404, "not.found"},
		{"UnknownMessage", "GET", g.url("/messages/999"), g.JWT, nil, 404, "not.found"},
		{"BadBody", "POST", g.member("/messages"), g.JWT, `{"body":`, 400, "bad.request"},
		{"BadBodyType", "POST", g.member("/messages"), g.JWT, map[string]any{"body": "x", "bodyType": "member-join"}, 400, "bad.request"},
		{"EmptyBody", "POST", g.member("/messages"), g.JWT, map[string]any{"body": " "}, 400, "bad.request"},
		{"TooLong", "POST", g.member("/messages"), g.JWT, map[string]any{"body": strings.Repeat("x", 4097)}, 413, "request.entity.too.large"},
		{"BadSortOrder", "GET", g.url("/messages?sortOrder=up"), g.JWT, nil, 400, "bad.request"},
		{"UnknownDeployment", "POST", gw.URL + api + "/conversations", "", map[string]any{"deploymentId": "nope",
			"memberInfo": map[string]any{"displayName": "X"}}, 404, "not.found"},
		{"UnknownQueue", "POST", gw.URL + api + "/conversations", "", map[string]any{"deploymentId": "demo",
			"routingTarget": map[string]any{"targetType": "QUEUE", "targetAddress": "nope"},
			"memberInfo":    map[string]any{"displayName": "X"}}, 400, "bad.request"},
		{"NoDisplayName", "POST", gw.URL + api + "/conversations", "", map[string]any{"deploymentId": "demo"}, 400, "bad.request"},
		{"NoRoute", "GET", gw.URL + api + "/nothing", "", nil, 404, "not.found"},
		{"WrongMethod", "PUT", gw.URL + api + "/conversations", "", nil, 405, "method.not.allowed"},
		{"StreamWithoutUpgrade", "GET", g.url("/stream?jwt=" + g.JWT), "", nil, 426, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, tc.url, tc.jwt, tc.body)
			wantAPIError(t, status, body, tc.status, tc.code)
		})
	}
	t.Run("BodyTooLarge", func(t *testing.T) {
		status, body := postOverLimit(t, gw.Addr, api+"/conversations",
			[]byte(`{"deploymentId":"demo","x":"`+strings.Repeat("x", 70<<10)+`"}`))
		wantAPIError(t, status, body, 413, "request.entity.too.large")
	})
	t.Run("StreamWrongToken", func(t *testing.T) {
		_, resp, err := fws.DefaultDialer.Dial(strings.Replace(g.Stream, g.JWT, "nope", 1), nil)
		if err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("dial with a wrong jwt: %v %v", resp, err)
		}
	})
	t.Run("StreamOtherConversation", func(t *testing.T) {
		_, resp, err := fws.DefaultDialer.Dial(strings.Replace(g.Stream, g.JWT, other.JWT, 1), nil)
		if err == nil || resp == nil || resp.StatusCode != 404 {
			t.Fatalf("dial with another conversation's jwt: %v %v", resp, err)
		}
	})
}

// wantAPIError checks an answer is Genesys' error shape with the status and,
// unless empty, the code.
func wantAPIError(t *testing.T, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e apiError
	decode(t, body, &e)
	if status != wantStatus || e.Status != wantStatus || e.Code == "" || (wantCode != "" && e.Code != wantCode) ||
		e.Message == "" || len(e.Details) != 1 {
		t.Fatalf("HTTP %d %s, want %d %s", status, body, wantStatus, wantCode)
	}
}

// postOverLimit sends a whole request whose body is over the gateway's limit
// and reads the answer. The gateway answers on the declared length and
// closes without reading the body, so writing the rest of it may fail with a
// broken pipe or a reset: expected, but only once the answer was read.
// net/http's client reports that write error instead of the answer (and
// hides its cause), hence the raw connection, written and read at once as a
// client does.
func postOverLimit(t *testing.T, addr, path string, body []byte) (int, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wiretest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wiretest.Timeout))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, addr, len(body))
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(append([]byte(head), body...))
		wrote <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		_ = conn.Close()
		t.Fatalf("no answer to a body of %d bytes: %v (writing it: %v)", len(body), err, <-wrote)
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer to a body of %d bytes: %v", len(body), err)
	}
	// The answer is read: the write has ended or ends as the gateway closes.
	if err := <-wrote; err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("writing a body of %d bytes: %v", len(body), err)
	}
	return resp.StatusCode, data
}

// TestOrigins: a page origin the deployment does not list is refused for the
// create call and the stream.
func TestOrigins(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{Origins: []string{"https://shop.example"}})
	body := `{"deploymentId":"demo","memberInfo":{"displayName":"Rita"}}`
	for origin, want := range map[string]int{"https://shop.example": 200, "https://evil.example": 403} {
		req, _ := http.NewRequest("POST", gw.URL+api+"/conversations", strings.NewReader(body))
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("origin %s: HTTP %d %s, want %d", origin, resp.StatusCode, data, want)
		}
		if want == 200 && resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("origin %s: no CORS header", origin)
		}
		if want == 200 {
			var g guest
			decode(t, data, &g)
			h := http.Header{"Origin": {"https://evil.example"}}
			if _, resp, err := fws.DefaultDialer.Dial(g.Stream, h); err == nil || resp == nil || resp.StatusCode != 403 {
				t.Fatalf("stream from a foreign origin: %v %v", resp, err)
			}
		}
	}
}

// TestRateLimit: past the per-token rate a guest is answered 429 in
// Genesys' shape.
func TestRateLimit(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, 3
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	g := create(t, gw, "Rita")
	var last int
	var body []byte
	for range 10 {
		if last, body = do(t, "GET", g.url("/members"), g.JWT, nil); last == http.StatusTooManyRequests {
			break
		}
	}
	var e apiError
	decode(t, body, &e)
	if last != http.StatusTooManyRequests || e.Code != "too.many.requests" {
		t.Fatalf("HTTP %d %s, want 429", last, body)
	}
}

// TestPreflightAndIPLimit: CORS preflights of a listed origin allow the
// Authorization header; past the per-IP rate a guest is answered 429 in
// Genesys' shape with a Retry-After and a contextId, on a budget of the
// wire's own: /v1 still answers.
func TestPreflightAndIPLimit(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = 5, -1
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Origins: []string{"https://shop.example"}})
	req, _ := http.NewRequest(http.MethodOptions, gw.URL+api+"/conversations", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: HTTP %d %v", resp.StatusCode, resp.Header)
	}

	var limited *http.Response
	var body []byte
	for i := 0; i < 50 && limited == nil; i++ {
		resp, err := http.Get(gw.URL + api + "/conversations/nochat/members")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited, body = resp, data
		}
	}
	if limited == nil {
		t.Fatal("50 requests in a burst from one IP were never limited at 5/s")
	}
	var e apiError
	decode(t, body, &e)
	if e.Code != "too.many.requests" || e.Status != 429 || e.ContextID == "" || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("429: %s %v", body, limited.Header)
	}
	if st, body := do(t, "GET", gw.URL+"/v1/availability?deployment=demo", "", nil); st != http.StatusOK {
		t.Fatalf("/v1 after the wire's IP budget ran out: HTTP %d %s", st, body)
	}
}

// TestShutdown: closing the gateway ends open streams with 1001.
func TestShutdown(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	g := create(t, gw, "Rita")
	s := dialStream(t, g.Stream)
	if err := gw.Gateway().Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(wiretest.Timeout):
		t.Fatal("stream still open after shutdown")
	}
	if !fws.IsCloseError(s.err, fws.CloseGoingAway) {
		t.Fatalf("stream ended with %v, want 1001", s.err)
	}
}

// TestRateLimitHeaders: the X-RateLimit-* headers of a 429 describe the
// limit that refused it, per jwt or per IP.
func TestRateLimitHeaders(t *testing.T) {
	for _, tc := range []struct {
		name          string
		perIP, perJWT int
		want          string
	}{
		{"PerJWT", 100, 20, "20"},
		{"PerIP", 20, 100, "20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Demo()
			cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = tc.perIP, tc.perJWT
			gw := servertest.Start(t, servertest.Options{Config: &cfg})
			g := create(t, gw, "Rita")
			var limited *http.Response
			for i := 0; i < 200 && limited == nil; i++ {
				req, _ := http.NewRequest("GET", g.url("/members"), nil)
				req.Header.Set("Authorization", "Bearer "+g.JWT)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					limited = resp
				}
			}
			if limited == nil {
				t.Fatal("never limited")
			}
			if h := limited.Header; h.Get("X-Ratelimit-Limit") != tc.want || h.Get("X-Ratelimit-Remaining") != "0" ||
				h.Get("X-Ratelimit-Reset") == "" || h.Get("Retry-After") == "" {
				t.Fatalf("429 headers %v, want the limit %s", h, tc.want)
			}
		})
	}
}
