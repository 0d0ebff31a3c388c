package gms_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// envelope is the GMS response as a client reads it.
type envelope struct {
	StatusCode   int               `json:"statusCode"`
	ChatEnded    bool              `json:"chatEnded"`
	ChatID       string            `json:"chatId"`
	UserID       string            `json:"userId"`
	SecureKey    string            `json:"secureKey"`
	Alias        string            `json:"alias"`
	NextPosition uint64            `json:"nextPosition"`
	Messages     []gmsMsg          `json:"messages"`
	UserData     map[string]string `json:"userData"`
	Errors       []gmsErr          `json:"errors"`
	raw          string            // the body as sent
	status       int               // the HTTP status
	header       http.Header
}

type gmsMsg struct {
	From struct {
		Nickname      string `json:"nickname"`
		ParticipantID int    `json:"participantId"`
		Type          string `json:"type"`
	} `json:"from"`
	Index    int64          `json:"index"`
	Type     string         `json:"type"`
	Text     string         `json:"text"`
	UTCTime  int64          `json:"utcTime"`
	UserData map[string]any `json:"userData"`
}

type gmsErr struct {
	Code   int    `json:"code"`
	Advice string `json:"advice"`
}

// post sends a URL-encoded form, as the widget does.
func post(t testing.TB, url_ string, form url.Values, header ...string) envelope {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url_, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) envelope {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s %s: HTTP %d, body %q is not JSON: %v", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	e.raw, e.status, e.header = string(body), resp.StatusCode, resp.Header
	return e
}

// gmsChat is a chat requested over GMS.
type gmsChat struct {
	base string // .../genesys/2/chat/demo/CHATID/
	keys url.Values
}

func (c gmsChat) form(kv ...string) url.Values {
	f := url.Values{}
	for k, v := range c.keys {
		f[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

func (c gmsChat) op(t testing.TB, op string, kv ...string) envelope {
	t.Helper()
	return post(t, c.base+op, c.form(kv...))
}

func mustOK(t testing.TB, e envelope) envelope {
	t.Helper()
	if e.status != http.StatusOK || e.StatusCode != 0 || len(e.Errors) != 0 {
		t.Fatalf("want statusCode 0, got HTTP %d %s", e.status, e.raw)
	}
	return e
}

func requestChat(t testing.TB, gwURL string) (gmsChat, envelope) {
	t.Helper()
	e := mustOK(t, post(t, gwURL+"/genesys/2/chat/demo/", url.Values{
		"nickname": {"Rita"}, "firstName": {"Rita"}, "lastName": {"Ray"}, "emailAddress": {"rita@example.com"},
		"subject": {"billing"}, "text": {""}, "alias": {""}, "secureKey": {""}, "userId": {""},
		"userData[page]": {"/pricing"}, "userData[GCTI_LanguageCode]": {"en"},
	}))
	if e.ChatID == "" || e.SecureKey == "" || e.UserID == "" || e.Alias == "" {
		t.Fatalf("request chat: %s", e.raw)
	}
	return gmsChat{base: gwURL + "/genesys/2/chat/demo/" + e.ChatID + "/",
		keys: url.Values{"userId": {e.UserID}, "secureKey": {e.SecureKey}, "alias": {e.Alias}}}, e
}

func describe(msgs []gmsMsg) []string {
	var out []string
	for _, m := range msgs {
		s := m.Type + "#" + itoa(m.Index) + " " + m.From.Type
		if m.Text != "" {
			s += ": " + m.Text
		}
		out = append(out, s)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestChat_OverGMS is a whole chat over the GMS wire, against an agent on
// the native wire: request chat, the agent answers, the visitor sends,
// refreshes from a transcriptPosition return exactly the later events once,
// typing both ways, disconnect and chatEnded.
func TestChat_OverGMS(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(gw.AgentToken, 0)

	c, first := requestChat(t, gw.URL)
	// Ann comes online after the request: its answer holds only the
	// visitor's join.
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	if first.Alias != "1" || first.NextPosition != 2 || first.ChatEnded {
		t.Fatalf("request chat envelope: %s", first.raw)
	}
	// Routing runs beside the request: the agent online since before may
	// have joined by the time the answer reads the transcript.
	if got := strings.Join(describe(first.Messages), "|"); got != "ParticipantJoined#1 Client" &&
		got != "ParticipantJoined#1 Client|ParticipantJoined#2 Agent" {
		t.Fatalf("request chat messages %q", got)
	}
	if m := first.Messages[0]; m.From.Nickname != "Rita" || m.From.ParticipantID != 1 || m.UTCTime == 0 {
		t.Fatalf("request chat message %+v", m)
	}

	// The agent is assigned the chat with the form's userData.
	var assigned struct {
		ChatID   string            `json:"chatId"`
		UserData map[string]string `json:"userData"`
	}
	for _, ev := range sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" }) {
		if ev.Name == "AgentService.chatAssigned" {
			wiretest.Decode(t, ev.Data, &assigned)
		}
	}
	if assigned.ChatID != first.ChatID || assigned.UserData["page"] != "/pricing" || assigned.UserData["GCTI_LanguageCode"] != "en" {
		t.Fatalf("chatAssigned %+v", assigned)
	}

	// Refresh until the agent's join shows, then the agent answers.
	var joined envelope
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		joined = mustOK(t, c.op(t, "refresh", "transcriptPosition", "2", "message", ""))
		return len(joined.Messages) > 0
	})
	if got := strings.Join(describe(joined.Messages), "|"); got != "ParticipantJoined#2 Agent" || joined.NextPosition != 3 {
		t.Fatalf("refresh from 2: %q next %d", got, joined.NextPosition)
	}
	if p := joined.Messages[0].From.ParticipantID; p < 2 {
		t.Fatalf("agent participantId %d, want a number from 2", p)
	}
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": first.ChatID, "message": "Hello, how can I help?"}).Resolved(t)
	sent := mustOK(t, c.op(t, "send", "message", "my bill is wrong", "messageType", "text"))
	if sent.ChatID != first.ChatID || sent.SecureKey != first.SecureKey || sent.UserID != first.UserID || len(sent.Messages) != 0 {
		t.Fatalf("send envelope: %s", sent.raw)
	}
	var said bool
	sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		said = ev.Name == "AgentService.messageReceived" && strings.Contains(string(ev.Data), "my bill")
		return said
	})
	if !said {
		t.Fatal("the visitor's message never reached the agent")
	}

	// From position 3: exactly the agent's answer and the visitor's message.
	r := mustOK(t, c.op(t, "refresh", "transcriptPosition", "3", "message", ""))
	want := "Message#3 Agent: Hello, how can I help?|Message#4 Client: my bill is wrong"
	if got := strings.Join(describe(r.Messages), "|"); got != want || r.NextPosition != 5 || r.ChatEnded {
		t.Fatalf("refresh from 3: %q next %d ended %v, want %q next 5", got, r.NextPosition, r.ChatEnded, want)
	}
	// From nextPosition: nothing again.
	if again := mustOK(t, c.op(t, "refresh", "transcriptPosition", "5")); len(again.Messages) != 0 || again.NextPosition != 5 {
		t.Fatalf("refresh from 5 repeated: %s", again.raw)
	}
	// The widget's restore asks from 1: the whole transcript, in order.
	all := mustOK(t, c.op(t, "refresh", "transcriptPosition", "1"))
	if got := len(all.Messages); got != 4 || all.Messages[0].Index != 1 || all.Messages[3].Index != 4 {
		t.Fatalf("refresh from 1: %q", describe(all.Messages))
	}

	// Typing: the visitor's reaches the agent; the agent's reaches the next
	// refreshes once.
	mustOK(t, c.op(t, "startTyping", "transcriptPosition", "5", "message", "and"))
	var typing struct {
		ChatID   string `json:"chatId"`
		IsTyping bool   `json:"isTyping"`
	}
	for _, ev := range sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.visitorTyping" }) {
		if ev.Name == "AgentService.visitorTyping" {
			wiretest.Decode(t, ev.Data, &typing)
		}
	}
	if typing.ChatID != first.ChatID || !typing.IsTyping {
		t.Fatalf("visitorTyping %+v", typing)
	}
	mustOK(t, c.op(t, "stopTyping", "transcriptPosition", "5"))
	ann.Command("AgentService.sendTyping", map[string]any{"chatId": first.ChatID}).Resolved(t)
	var typed []string
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		r := mustOK(t, c.op(t, "refresh", "transcriptPosition", "5"))
		typed = describe(r.Messages)
		return len(typed) > 0
	})
	if got := strings.Join(typed, "|"); !strings.HasPrefix(got, "TypingStarted#-") || !strings.HasSuffix(got, " Agent") || strings.Contains(got, "|") {
		t.Fatalf("agent typing over refresh: %q", got)
	}
	if r := mustOK(t, c.op(t, "refresh", "transcriptPosition", "5")); len(r.Messages) != 0 {
		t.Fatalf("agent typing answered twice: %s", r.raw)
	}

	// updateData and customNotice reach the chat.
	mustOK(t, c.op(t, "updateData", "userData[page]", "/checkout"))
	mustOK(t, c.op(t, "customNotice", "message", "hello notice"))

	// Disconnect ends the chat; its end shows to a refresh and later sends
	// fail with chatEnded.
	d := mustOK(t, c.op(t, "disconnect"))
	if !d.ChatEnded {
		t.Fatalf("disconnect: %s", d.raw)
	}
	end := mustOK(t, c.op(t, "refresh", "transcriptPosition", "5"))
	if !end.ChatEnded {
		t.Fatalf("refresh after disconnect: %s", end.raw)
	}
	got := describe(end.Messages)
	if len(got) == 0 || got[0] != "CustomNotice#"+itoa(end.Messages[0].Index)+" Client: hello notice" {
		t.Fatalf("refresh after disconnect: %q", got)
	}
	if last := end.Messages[len(end.Messages)-1]; last.Type != "ParticipantLeft" {
		t.Fatalf("refresh after disconnect ends with %q", got)
	}
	mustOK(t, c.op(t, "disconnect")) // again: still done
}

// TestErrors pins the GMS error envelopes: wrong secureKey, unknown chat,
// ended chat, unknown service, missing names, files off, unknown operations,
// bodies too large and multipart request chat.
func TestErrors(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Limits.BodyBytes = 8 << 10
	cfg.Deployments[0].Files.Enabled = false
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	c, first := requestChat(t, gw.URL)
	id := first.ChatID

	check := func(name string, e envelope, status int, want string) {
		t.Helper()
		if e.status != status || e.raw != want {
			t.Errorf("%s: HTTP %d %s\nwant HTTP %d %s", name, e.status, e.raw, status, want)
		}
	}
	unauthorized := `"messages":[],"errors":[{"code":401,"advice":"Cannot authorize the session: userId, secureKey and alias must be those of the chat."}]}`
	check("wrong secureKey", c.op(t, "send", "message", "hi", "secureKey", "not-the-key"), 401,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`",`+unauthorized)
	check("wrong userId", c.op(t, "send", "message", "hi", "userId", "someone"), 401,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`",`+unauthorized)
	check("wrong alias", c.op(t, "refresh", "alias", "2"), 401,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`",`+unauthorized)
	check("unknown chat", post(t, gw.URL+"/genesys/2/chat/demo/nochat/refresh", c.form()), 404,
		`{"statusCode":2,"chatEnded":false,"chatId":"nochat","messages":[],"errors":[{"code":404,"advice":"Chat session not found."}]}`)
	check("other service", post(t, gw.URL+"/genesys/2/chat/demo-async/"+id+"/refresh", c.form()), 404,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":404,"advice":"Chat session not found."}]}`)
	check("unknown service", post(t, gw.URL+"/genesys/2/chat/nosuch", url.Values{"nickname": {"x"}}), 404,
		`{"statusCode":2,"chatEnded":false,"messages":[],"errors":[{"code":306,"advice":"Unknown deployment."}]}`)
	check("no name", post(t, gw.URL+"/genesys/2/chat/demo", url.Values{"subject": {"x"}}), 400,
		`{"statusCode":2,"chatEnded":false,"messages":[],"errors":[{"code":161,"advice":"A nickname, or a first and a last name, is required."}]}`)
	check("no last name", post(t, gw.URL+"/genesys/2/chat/demo", url.Values{"firstName": {"x"}}), 400,
		`{"statusCode":2,"chatEnded":false,"messages":[],"errors":[{"code":103,"advice":"lastName is required with firstName."}]}`)
	check("bad email", post(t, gw.URL+"/genesys/2/chat/demo", url.Values{"nickname": {"x"}, "emailAddress": {"nope"}}), 400,
		`{"statusCode":2,"chatEnded":false,"messages":[],"errors":[{"code":364,"advice":"emailAddress is not a valid email address."}]}`)
	check("file not multipart", c.op(t, "file"), 400,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":400,"advice":"The upload is not valid: the body must be multipart/form-data with a part named \"file\"."}]}`)
	check("file limits, files off", c.op(t, "file/limits"), 501,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":501,"advice":"This transport doesn't support getFileLimits command."}]}`)
	check("file delete", c.op(t, "file/f1/delete"), 501,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":501,"advice":"Deleting files is not supported on this service."}]}`)
	check("unknown op", c.op(t, "pushUrl"), 404,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":404,"advice":"No such operation."}]}`)
	check("bad position", c.op(t, "refresh", "transcriptPosition", "x"), 400,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":400,"advice":"transcriptPosition must be a whole number."}]}`)
	check("empty message", c.op(t, "send", "message", " "), 400,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":400,"advice":"No message text provided."}]}`)
	check("too long", c.op(t, "send", "message", strings.Repeat("x", 5000)), 413,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":204,"advice":"Message length exceeds configured threshold of (4096) characters"}]}`)
	check("body too large", c.op(t, "send", "message", strings.Repeat("x", 9<<10)), 413,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":413,"advice":"The request body is larger than the limit."}]}`)
	check("no route", post(t, c.base+"a/b/c", c.form()), 404,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":404,"advice":"No such endpoint."}]}`)
	get, _ := http.NewRequest(http.MethodGet, c.base+"refresh", nil)
	check("wrong method", do(t, get), 405,
		`{"statusCode":2,"chatEnded":false,"chatId":"`+id+`","messages":[],"errors":[{"code":405,"advice":"Method not allowed."}]}`)
	tooMany := url.Values{"nickname": {"x"}}
	for i := range 300 {
		tooMany.Set("userData[k"+itoa(int64(i))+"]", "v")
	}
	if e := post(t, gw.URL+"/genesys/2/chat/demo", tooMany); e.status != 400 || e.Errors[0].Code != 400 {
		t.Errorf("300 userData keys: HTTP %d %s", e.status, e.raw)
	}

	mustOK(t, c.op(t, "refresh/", "transcriptPosition", "1")) // a trailing slash is the same operation

	// Ended: sends fail with chatEnded and the code of a request the chat
	// can no longer execute.
	mustOK(t, c.op(t, "disconnect"))
	check("ended chat", c.op(t, "send", "message", "still there?"), 409,
		`{"statusCode":2,"chatEnded":true,"chatId":"`+id+`","messages":[],"errors":[{"code":249,"advice":"There is no active chat session."}]}`)

	// Request chat as multipart, which the widget may use.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"firstName": "Mo", "lastName": "Ng", "userData[page]": "/m"} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/genesys/2/chat/demo", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	m := mustOK(t, do(t, req))
	if len(m.Messages) != 1 || m.Messages[0].From.Nickname != "Mo Ng" {
		t.Errorf("multipart request chat: %s", m.raw)
	}
}

// TestOriginsAndLimits: a page origin the deployment does not list is
// refused, CORS preflights of listed ones are answered, and bursts past the
// rate answer 429 with statusCode 1 and a Retry-After.
func TestOriginsAndLimits(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = 1000, 5
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Origins: []string{"https://shop.example"}})

	e := post(t, gw.URL+"/genesys/2/chat/demo", url.Values{"nickname": {"x"}}, "Origin", "https://evil.example")
	if e.status != http.StatusForbidden || e.Errors[0].Code != 401 {
		t.Fatalf("foreign origin: HTTP %d %s", e.status, e.raw)
	}
	req, _ := http.NewRequest(http.MethodOptions, gw.URL+"/genesys/2/chat/demo/", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,apikey")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "apikey") {
		t.Fatalf("preflight: HTTP %d %v", resp.StatusCode, resp.Header)
	}

	c, _ := requestChat(t, gw.URL)
	var limited *envelope
	for i := 0; i < 50 && limited == nil; i++ {
		if r := c.op(t, "refresh", "transcriptPosition", "1"); r.status == http.StatusTooManyRequests {
			limited = &r
		}
	}
	if limited == nil {
		t.Fatal("50 refreshes in a burst on one chat were never limited at 5/s")
	}
	if limited.StatusCode != 1 || limited.Errors[0].Code != 503 || limited.header.Get("Retry-After") == "" {
		t.Fatalf("429: %s %v", limited.raw, limited.header)
	}
	// Another chat has its own budget.
	other, _ := requestChat(t, gw.URL)
	mustOK(t, other.op(t, "refresh", "transcriptPosition", "1"))
}

// TestIPLimit: past the per-IP rate the wire answers 429 in the GMS envelope
// with a Retry-After, on a budget of its own: /v1 still answers.
func TestIPLimit(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = 5, -1
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	var limited *envelope
	for i := 0; i < 50 && limited == nil; i++ {
		if r := post(t, gw.URL+"/genesys/2/chat/demo/nochat/refresh", url.Values{}); r.status == http.StatusTooManyRequests {
			limited = &r
		}
	}
	if limited == nil {
		t.Fatal("50 requests in a burst from one IP were never limited at 5/s")
	}
	if limited.StatusCode != 1 || limited.ChatID != "nochat" || limited.Errors[0].Code != 503 || limited.header.Get("Retry-After") == "" {
		t.Fatalf("429: %s %v", limited.raw, limited.header)
	}
	resp, err := http.Get(gw.URL + "/v1/availability?deployment=demo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1 after the wire's IP budget ran out: HTTP %d", resp.StatusCode)
	}
}
