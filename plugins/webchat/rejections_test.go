package webchat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/server/servertest"
)

var update = flag.Bool("update", false, "rewrite testdata/wire/rejections.golden.json from the server's answers")

// goldenRejections is the pinned table: case name → status, code, message.
var goldenRejections = filepath.Join("..", "..", "testdata", "wire", "rejections.golden.json")

// The exact texts of the WebChatService reference (seeds/004).
const (
	textAlreadyActive   = "There is already an active chat session."
	textInvalidUserData = "malformed data object provided in userData property."
	textNoActiveSession = "There is no active chat session."
	textNoActiveShort   = "No active chat session."
	textNoMessage       = "No message text provided."
	textInvalidFilters  = "Missing or invalid filters provided. Please provide a regular expression or an array of regular expressions."
	textAccessDenied    = "Access Denied to private command. Only WebChatService is allowed to invoke this command."
	textAsyncOnly       = "Fetching history messages applies only to Asynchronous chat."
	textNoFileUploads   = "This transport doesn't support file uploads."
	textInvalidContext  = "context: at most 20 pages (title 300 characters, url 2048 bytes), 50 variables (name 64, string value 500 characters) of strings, numbers or booleans, 16 KiB of JSON in all."
)

// outcome is one row of the golden table.
type outcome struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// session says which client a case runs as.
type session int

const (
	guest   session = iota // no token, deployment "demo"
	active                 // the token of a live, open chat
	ended                  // the token of a chat the visitor ended
	badAuth                // a bearer token nobody issued
	agent                  // the demo agent's token
	rated                  // the token of an ended chat its visitor rated
)

func TestRejections(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	guestClient := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")

	start := func() string {
		var st struct{ Token string }
		guestClient.Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Into(t, &st)
		return st.Token
	}
	activeToken := start()
	endedToken := start()
	guestClient.WithToken(endedToken).Command("WebChatService.endChat", nil).Resolved(t)
	ratedToken := start()
	guestClient.WithToken(ratedToken).Command("WebChatService.endChat", nil).Resolved(t)
	guestClient.WithToken(ratedToken).Command("WebChatService.rateChat", map[string]any{"rating": 5}).Resolved(t)

	clients := map[session]*wiretest.HTTP{
		guest:   guestClient,
		active:  guestClient.WithToken(activeToken),
		ended:   guestClient.WithToken(endedToken),
		badAuth: guestClient.WithToken("not-a-token-anyone-issued"),
		agent:   wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken),
		rated:   guestClient.WithToken(ratedToken),
	}

	tooLong := strings.Repeat("x", gw.Config().Limits.MessageChars+1)
	cases := []struct {
		name    string
		as      session
		command string
		options any
		want    outcome
	}{
		// startChat
		{"startChat/token of an active chat", active, "startChat", map[string]any{"nickname": "Rita"},
			outcome{409, "already_active", textAlreadyActive}},
		{"startChat/userData is a number", guest, "startChat", wiretest.Raw(`{"userData":5}`),
			outcome{400, "invalid_user_data", textInvalidUserData}},
		{"startChat/userData is a string holding an array", guest, "startChat", wiretest.Raw(`{"userData":"[1]"}`),
			outcome{400, "invalid_user_data", textInvalidUserData}},
		{"startChat/userData is a string that is not JSON", guest, "startChat", wiretest.Raw(`{"userData":"name=Rita"}`),
			outcome{400, "invalid_user_data", textInvalidUserData}},
		{"startChat/userData is an array", guest, "startChat", wiretest.Raw(`{"userData":[1]}`),
			outcome{400, "invalid_user_data", textInvalidUserData}},
		{"startChat/userData is a string holding broken JSON", guest, "startChat", wiretest.Raw(`{"userData":"{\"a\":"}`),
			outcome{400, "invalid_user_data", textInvalidUserData}},

		// There is no active chat session.
		{"endChat/no session", guest, "endChat", nil, outcome{409, "no_active_session", textNoActiveSession}},
		{"endChat/chat ended", ended, "endChat", nil, outcome{409, "no_active_session", textNoActiveSession}},
		{"sendMessage/no session", guest, "sendMessage", map[string]any{"message": "hi"},
			outcome{409, "no_active_session", textNoActiveSession}},
		{"sendMessage/chat ended", ended, "sendMessage", map[string]any{"message": "hi"},
			outcome{409, "no_active_session", textNoActiveSession}},
		{"sendCustomNotice/no session", guest, "sendCustomNotice", map[string]any{"message": "hi"},
			outcome{409, "no_active_session", textNoActiveSession}},
		{"sendCustomNotice/chat ended", ended, "sendCustomNotice", map[string]any{"message": "hi"},
			outcome{409, "no_active_session", textNoActiveSession}},
		{"sendTyping/no session", guest, "sendTyping", nil, outcome{409, "no_active_session", textNoActiveSession}},
		{"sendTyping/chat ended", ended, "sendTyping", nil, outcome{409, "no_active_session", textNoActiveSession}},
		{"updateUserData/chat ended", ended, "updateUserData", map[string]any{"a": 1},
			outcome{409, "no_active_session", textNoActiveSession}},
		{"fetchHistory/no session", guest, "fetchHistory", nil, outcome{409, "no_active_session", textNoActiveSession}},

		// No message text provided.
		{"sendMessage/no message", active, "sendMessage", map[string]any{}, outcome{400, "no_message", textNoMessage}},
		{"sendMessage/empty message", active, "sendMessage", map[string]any{"message": ""},
			outcome{400, "no_message", textNoMessage}},
		{"sendMessage/blank message", active, "sendMessage", map[string]any{"message": " \n\t"},
			outcome{400, "no_message", textNoMessage}},
		{"sendMessage/no options", active, "sendMessage", nil, outcome{400, "no_message", textNoMessage}},
		{"sendFilteredMessage/no message", active, "sendFilteredMessage", map[string]any{"regex": "[0-9]+"},
			outcome{400, "no_message", textNoMessage}},
		{"sendMessage/too long", active, "sendMessage", map[string]any{"message": tooLong},
			outcome{413, "message_too_long", fmt.Sprintf("Message length exceeds configured threshold of (%d) characters", len(tooLong)-1)}},

		// No active chat session.
		{"sendFilteredMessage/no session", guest, "sendFilteredMessage", map[string]any{"message": "1234", "regex": "[0-9]+"},
			outcome{409, "no_active_session", textNoActiveShort}},
		{"sendFilteredMessage/chat ended", ended, "sendFilteredMessage", map[string]any{"message": "1234", "regex": "[0-9]+"},
			outcome{409, "no_active_session", textNoActiveShort}},
		{"startPoll/no session", guest, "startPoll", nil, outcome{409, "no_active_session", textNoActiveShort}},
		{"startPoll/chat ended", ended, "startPoll", nil, outcome{409, "no_active_session", textNoActiveShort}},
		{"stopPoll/no session", guest, "stopPoll", nil, outcome{409, "no_active_session", textNoActiveShort}},
		{"stopPoll/chat ended", ended, "stopPoll", nil, outcome{409, "no_active_session", textNoActiveShort}},

		// addPrefilter
		{"addPrefilter/no filters", active, "addPrefilter", map[string]any{}, outcome{400, "invalid_filters", textInvalidFilters}},
		{"addPrefilter/no options", guest, "addPrefilter", nil, outcome{400, "invalid_filters", textInvalidFilters}},
		{"addPrefilter/filters is a number", active, "addPrefilter", wiretest.Raw(`{"filters":5}`),
			outcome{400, "invalid_filters", textInvalidFilters}},
		{"addPrefilter/filters is empty", active, "addPrefilter", wiretest.Raw(`{"filters":""}`),
			outcome{400, "invalid_filters", textInvalidFilters}},
		{"addPrefilter/filters is an empty array", active, "addPrefilter", wiretest.Raw(`{"filters":[]}`),
			outcome{400, "invalid_filters", textInvalidFilters}},
		{"addPrefilter/filters holds a number", active, "addPrefilter", wiretest.Raw(`{"filters":["[0-9]+",1]}`),
			outcome{400, "invalid_filters", textInvalidFilters}},
		{"addPrefilter/filters holds an empty string", active, "addPrefilter", wiretest.Raw(`{"filters":["[0-9]+",""]}`),
			outcome{400, "invalid_filters", textInvalidFilters}},

		// Private, mode-bound and unsupported commands.
		{"poll/from a client", active, "poll", nil, outcome{403, "access_denied", textAccessDenied}},
		{"poll/from a guest", guest, "poll", nil, outcome{403, "access_denied", textAccessDenied}},
		{"fetchHistory/live chat", active, "fetchHistory", nil, outcome{409, "async_only", textAsyncOnly}},
		{"restore/no chat", guest, "restore", nil, outcome{404, "restore_failed", "No chat session found to restore."}},
		{"restore/chat ended", ended, "restore", nil, outcome{404, "restore_failed", "No chat session found to restore."}},
		{"sendFile/no file", active, "sendFile", nil, outcome{400, "no_file", "No file provided."}},
		{"sendFile/no session", guest, "sendFile", nil, outcome{409, "no_active_session", textNoActiveSession}},
		{"downloadFile/unknown file", active, "downloadFile", map[string]any{"fileId": "1"},
			outcome{404, "file_not_found", "No such file in this chat."}},

		// Identity, proactive engagement, media requests, left messages.
		{"startChat/identity on an anonymous deployment", guest, "startChat", map[string]any{"identity": map[string]any{"uuid": "u-1"}},
			outcome{403, "identity_not_allowed", "This deployment keeps visitors anonymous: it takes no identity.uuid or identity.jwt."}},
		{"updateContext/context is not an object", active, "updateContext", map[string]any{"context": 5},
			outcome{400, "invalid_context", textInvalidContext}},
		{"leaveMessage/email is not an address", guest, "leaveMessage", map[string]any{"message": "hi", "email": "not an address"},
			outcome{400, "invalid_email", "email is not an email address."}},
		{"leaveMessage/context variable is an array", guest, "leaveMessage",
			map[string]any{"message": "hi", "context": map[string]any{"variables": map[string]any{"a": []int{1}}}},
			outcome{400, "invalid_context", textInvalidContext}},
		{"answerMediaRequest/unknown request", active, "answerMediaRequest", map[string]any{"id": "nope", "state": "ACCEPTED"},
			outcome{404, "media_request_not_found", "No such media request in this chat."}},
		{"AgentService.answerMessage/unknown message", agent, "AgentService.answerMessage", map[string]any{"id": "nope", "message": "x"},
			outcome{404, "message_not_found", "No such left message."}},

		// rateChat: once, after the end, 1 to 5, a bounded comment.
		{"rateChat/no session", guest, "rateChat", map[string]any{"rating": 4},
			outcome{409, "no_active_session", "There is no chat session to rate."}},
		{"rateChat/chat not ended", active, "rateChat", map[string]any{"rating": 4},
			outcome{409, "chat_not_ended", "A chat can be rated once it has ended."}},
		{"rateChat/rated twice", rated, "rateChat", map[string]any{"rating": 4},
			outcome{409, "already_rated", "This chat has already been rated."}},
		{"rateChat/rating out of range", ended, "rateChat", map[string]any{"rating": 6},
			outcome{400, "invalid_rating", "rating must be a whole number from 1 to 5."}},
		{"rateChat/no rating", ended, "rateChat", map[string]any{"comment": "ok"},
			outcome{400, "invalid_rating", "rating must be a whole number from 1 to 5."}},
		{"rateChat/comment too long", ended, "rateChat", map[string]any{"rating": 4, "comment": strings.Repeat("x", 1001)},
			outcome{413, "comment_too_long", "comment is limited to 1000 characters."}},

		// Generic rejections of the bus and the gateway.
		{"WebChatService.noSuchCommand/unknown command", guest, "WebChatService.noSuchCommand", nil,
			outcome{404, "unknown_command", "Command does not exist."}},
		{"NoSuchService.startChat/unknown plugin", guest, "NoSuchService.startChat", nil,
			outcome{404, "unknown_command", "Command does not exist."}},
		{"sendMessage/bad bearer token", badAuth, "sendMessage", map[string]any{"message": "hi"},
			outcome{401, "unauthorized", "A valid token is required."}},
	}
	got := map[string]outcome{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.command
			if !strings.Contains(name, ".") {
				name = "WebChatService." + name
			}
			r := clients[tc.as].Command(name, tc.options)
			o := outcomeOf(t, r)
			if o != tc.want {
				t.Errorf("%s: got %+v, want %+v", name, o, tc.want)
			}
			got[key(name, tc.name)] = o
		})
	}

	// The same rejections must not have changed the chats.
	var v struct {
		SessionActive bool `json:"sessionActive"`
	}
	clients[active].Command("WebChatService.verifySession", nil).Into(t, &v)
	if !v.SessionActive {
		t.Errorf("the active chat is no longer active after its rejected commands")
	}

	// Bodies the gateway rejects before any command runs.
	raw := []struct {
		name string
		body string
		want outcome
	}{
		{"POST /v1/command/malformed JSON", `{"command":"WebChatService.sendMessage","options":{"message":`,
			outcome{400, "invalid_request", "The request is not valid JSON of the documented shape."}},
		{"POST /v1/command/not an object", `[1,2]`,
			outcome{400, "invalid_request", "The request is not valid: the body must be a JSON object."}},
		{"POST /v1/command/no command", `{"deployment":"demo"}`,
			outcome{400, "invalid_request", `The request is not valid: "command" must be a string like "WebChatService.sendMessage".`}},
		{"POST /v1/command/options not an object", `{"deployment":"demo","command":"WebChatService.startChat","options":5}`,
			outcome{400, "invalid_request", `The request is not valid: "options" must be an object.`}},
		{"POST /v1/command/unknown deployment", `{"deployment":"nope","command":"WebChatService.startChat"}`,
			outcome{404, "unknown_deployment", "Unknown deployment."}},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			o := outcomeOf(t, guestClient.Post([]byte(tc.body)))
			if o != tc.want {
				t.Errorf("got %+v, want %+v", o, tc.want)
			}
			got[tc.name] = o
		})
	}

	t.Run("POST /v1/command/body over the limit", func(t *testing.T) {
		limit := gw.Config().Limits.BodyBytes
		status, body := postDeclaredLength(t, gw.Addr, limit+1)
		var r wiretest.Reply
		wiretest.Decode(t, body, &r)
		r.HTTPStatus, r.Body = status, body
		o := outcomeOf(t, r)
		want := outcome{413, "too_large", "The request body is larger than the limit."}
		if o != want {
			t.Errorf("got %+v, want %+v", o, want)
		}
		got["POST /v1/command/body over the limit"] = o

		// A body exactly at the limit is read and answered by the command.
		pad := strings.Repeat(" ", limit-len(`{"deployment":"demo","command":"WebChatService.verifySession"}`))
		r = guestClient.Post([]byte(`{"deployment":"demo","command":"WebChatService.verifySession"}` + pad))
		if r.HTTPStatus != http.StatusOK {
			t.Errorf("a body of exactly %d bytes: HTTP %d %s", limit, r.HTTPStatus, r.Body)
		}
	})

	t.Run("origins", func(t *testing.T) {
		shop := servertest.Start(t, servertest.Options{Origins: []string{"https://shop.example"}})
		evil := wiretest.NewHTTP(t, shop.URL).WithDeployment("demo")
		evil.Origin = "https://evil.example"
		o := outcomeOf(t, evil.Command("WebChatService.startChat", nil))
		want := outcome{403, "origin_not_allowed", "This page's origin is not allowed for the deployment."}
		if o != want {
			t.Errorf("startChat from https://evil.example: got %+v, want %+v", o, want)
		}
		got["startChat/origin not allowed"] = o

		good := wiretest.NewHTTP(t, shop.URL).WithDeployment("demo")
		good.Origin = "https://shop.example"
		r := good.Command("WebChatService.startChat", nil)
		r.Resolved(t)
		if acao := r.Header.Get("Access-Control-Allow-Origin"); acao != "https://shop.example" {
			t.Errorf("startChat from https://shop.example: Access-Control-Allow-Origin = %q", acao)
		}
		// The visitor's token does not carry the page past the check either.
		var st struct{ Token string }
		wiretest.Decode(t, r.Data, &st)
		evil.Token = st.Token
		if o := outcomeOf(t, evil.Command("WebChatService.sendMessage", map[string]any{"message": "hi"})); o != want {
			t.Errorf("sendMessage with a token from https://evil.example: got %+v, want %+v", o, want)
		}

		preflight := func(origin string) *http.Response {
			req, err := http.NewRequest(http.MethodOptions, shop.URL+"/v1/command", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			resp, _ := wiretest.NewHTTP(t, shop.URL).Send(req)
			return resp
		}
		resp := preflight("https://shop.example")
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("preflight from https://shop.example: HTTP %d", resp.StatusCode)
		}
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != "https://shop.example" {
			t.Errorf("preflight from https://shop.example: Access-Control-Allow-Origin = %q", acao)
		}
		if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
			t.Errorf("preflight from https://shop.example: Access-Control-Allow-Methods = %q", m)
		}
		if h := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") {
			t.Errorf("preflight from https://shop.example: Access-Control-Allow-Headers = %q", h)
		}
		if acao := preflight("https://evil.example").Header.Get("Access-Control-Allow-Origin"); acao != "" {
			t.Errorf("preflight from https://evil.example: Access-Control-Allow-Origin = %q, want none", acao)
		}

		// The socket refuses the page before upgrading.
		s, resp, err := wiretest.TryDial(t, shop.WSURL, wiretest.DialOptions{Header: http.Header{"Origin": {"https://evil.example"}}})
		if err == nil {
			s.Close()
			t.Errorf("socket from https://evil.example was accepted")
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("socket from https://evil.example: %v (%v), want HTTP 403", err, resp)
		}
	})

	t.Run("state", func(t *testing.T) { rejectionsAfterState(t, got) })

	if t.Failed() {
		return // a golden diff would only repeat the failures
	}
	checkGolden(t, goldenRejections, got)
}

// rejectionsAfterState adds to got the rejections that need a chat, a
// message or a file in some state first, on a gateway of their own with a
// clock the test moves: a closed media request, an answered message, too
// many messages from one address, an expired file.
func rejectionsAfterState(t *testing.T, got map[string]outcome) {
	ms := atomic.Int64{}
	ms.Store(time.Now().UnixMilli())
	now := func() time.Time { return time.UnixMilli(ms.Load()) }
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	for i := range cfg.Deployments {
		cfg.Deployments[i].Retention.Files = config.Period(30 * time.Minute)
	}
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Now: now, Lifecycle: lifecycle.Options{Interval: 24 * time.Hour}})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	record := func(name, caseName string, r wiretest.Reply, want outcome) {
		t.Helper()
		o := outcomeOf(t, r)
		if o != want {
			t.Errorf("%s/%s: got %+v, want %+v", name, caseName, o, want)
		}
		got[name+"/"+caseName] = o
	}

	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Into(t, &st)
	visitor := guest.WithToken(st.Token)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(context.Background(), st.ChatID)
		return c.State == model.StateActive
	})
	var req struct{ ID string }
	ann.Command("AgentService.requestFile", map[string]any{"chatId": st.ChatID, "types": []string{"image/png"}}).Into(t, &req)
	visitor.Command("WebChatService.answerMediaRequest", map[string]any{"id": req.ID, "state": "DECLINED"}).Resolved(t)
	record("WebChatService.answerMediaRequest", "request declined", visitor.Command("WebChatService.answerMediaRequest",
		map[string]any{"id": req.ID, "state": "ACCEPTED"}), outcome{409, "media_request_closed", "The media request is no longer open."})

	var left struct{ ID string }
	guest.Command("WebChatService.leaveMessage", map[string]any{"message": "hi"}).Into(t, &left)
	ann.Command("AgentService.answerMessage", map[string]any{"id": left.ID, "message": "hello"}).Resolved(t)
	record("AgentService.answerMessage", "already answered", ann.Command("AgentService.answerMessage",
		map[string]any{"id": left.ID, "message": "again"}), outcome{409, "already_answered", "This message has already been answered."})
	for range 9 {
		guest.Command("WebChatService.leaveMessage", map[string]any{"message": "hi"}).Resolved(t)
	}
	record("WebChatService.leaveMessage", "eleventh from one address in ten minutes", guest.Command("WebChatService.leaveMessage",
		map[string]any{"message": "hi"}), outcome{429, "too_many_messages", "Too many messages left; please wait for an answer."})

	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("file", "notes.txt")
	part.Write([]byte("notes"))
	w.Close()
	upload, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/files", &body)
	upload.Header.Set("Content-Type", w.FormDataContentType())
	upload.Header.Set("Authorization", "Bearer "+st.Token)
	var f struct{ FileID string }
	wiretest.NewHTTP(t, gw.URL).Do(upload).Into(t, &f)
	ms.Add((31 * time.Minute).Milliseconds())
	if _, err := gw.Data().Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	record("WebChatService.downloadFile", "file expired", visitor.Command("WebChatService.downloadFile", map[string]any{"fileId": f.FileID}),
		outcome{410, "file_expired", "This file has expired and is no longer available."})
}

func key(command, caseName string) string {
	_, rest, _ := strings.Cut(caseName, "/")
	return command + "/" + rest
}

func outcomeOf(t *testing.T, r wiretest.Reply) outcome {
	t.Helper()
	if r.Status != "rejected" || r.Error == nil {
		t.Fatalf("want rejected, got HTTP %d %s", r.HTTPStatus, r.Body)
	}
	if r.HTTPStatus != 0 && r.Header != nil && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type = %q, want application/json", r.Header.Get("Content-Type"))
	}
	return outcome{Status: r.HTTPStatus, Code: r.Error.Code, Message: r.Error.Message}
}

// postDeclaredLength sends a command whose headers declare n body bytes and
// sends only the first 8 KiB of them: the gateway must refuse on the length
// alone. (Sending the whole body makes the server close with unread data,
// which resets the connection under the client before it reads the answer.)
func postDeclaredLength(t *testing.T, addr string, n int) (int, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wiretest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wiretest.Timeout))
	fmt.Fprintf(conn, "POST /v1/command HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, n)
	// The server reads no body before the route's gate runs, which is once
	// the first 8 KiB of it arrived: send those, and no more.
	_, _ = conn.Write(bytes.Repeat([]byte(" "), min(n, 8<<10)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatalf("read answer body: %v", err)
	}
	return resp.StatusCode, b.Bytes()
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got map[string]outcome) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plugins/webchat -run TestRejections -update to create it)", err)
	}
	var wantTable map[string]outcome
	if err := json.Unmarshal(want, &wantTable); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for k, w := range wantTable {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: no longer answered (golden: %+v)", k, w)
		case g != w:
			t.Errorf("%s:\n got %+v\nwant %+v (golden)", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := wantTable[k]; !ok {
			t.Errorf("%s: %+v is not in the golden file", k, g)
		}
	}
	if !t.Failed() && !bytes.Equal(want, data) {
		t.Errorf("%s is not in canonical form; rewrite it with -update", path)
	}
	if t.Failed() {
		t.Logf("if the change is intended: go test ./plugins/webchat -run TestRejections -update")
	}
}
