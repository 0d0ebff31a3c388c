package purecloud_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

type mediaRequest struct {
	ID      string   `json:"id"`
	Types   []string `json:"types"`
	State   string   `json:"state"`
	SelfURI string   `json:"selfUri"`
}

// uploadAs posts a file to /v1/files with the guest's jwt (the chat token).
func uploadAs(t *testing.T, gw *servertest.Gateway, jwt, name string, content []byte) int {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(content)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/files", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+jwt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)

// TestMediaRequests: the agent asks for a file with AgentService.requestFile;
// the guest sees it on its stream (bodyType media-request) and over the SDK's
// mediarequests calls, accepts it with PATCH, and its upload settles it
// (SUCCESS, or ERRORED for a refused file). Errors are in Genesys' shape.
func TestMediaRequests(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	g := create(t, gw, "Rita")
	s := dialStream(t, g.Stream)
	s.until(t, "message", func(f frame) bool { return f.EventBody.BodyType == "member-join" })

	var list struct {
		Entities []mediaRequest `json:"entities"`
	}
	status, body := do(t, "GET", g.url("/mediarequests"), g.JWT, nil)
	decode(t, body, &list)
	if status != http.StatusOK || list.Entities == nil || len(list.Entities) != 0 || !strings.Contains(string(body), `"entities":[]`) {
		t.Fatalf("no media requests yet: HTTP %d %s", status, body)
	}

	var asked struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	ann.Command("AgentService.requestFile", map[string]any{"chatId": g.ID, "types": []string{"image/png"}}).Into(t, &asked)
	if asked.ID == "" || asked.State != "PENDING" {
		t.Fatalf("requestFile answered %+v", asked)
	}
	f := s.until(t, "message", nil)
	if f.EventBody.BodyType != "media-request" || f.EventBody.ID != asked.ID || f.EventBody.Body == "" {
		t.Fatalf("media request frame %+v, want id %s", f, asked.ID)
	}

	var m mediaRequest
	status, body = do(t, "GET", g.url("/mediarequests/"+asked.ID), g.JWT, nil)
	decode(t, body, &m)
	if status != http.StatusOK || m.ID != asked.ID || m.State != "PENDING" || len(m.Types) != 1 || m.Types[0] != "image/png" ||
		m.SelfURI != api+"/conversations/"+g.ID+"/mediarequests/"+asked.ID {
		t.Fatalf("GET media request: HTTP %d %s", status, body)
	}
	// The SDK sends the whole object back with the new state.
	status, body = do(t, "PATCH", g.url("/mediarequests/"+asked.ID), g.JWT,
		map[string]any{"id": asked.ID, "types": []string{"image/png"}, "state": "ACCEPTED"})
	decode(t, body, &m)
	if status != http.StatusOK || m.State != "ACCEPTED" {
		t.Fatalf("PATCH ACCEPTED: HTTP %d %s", status, body)
	}
	if code := uploadAs(t, gw, g.JWT, "receipt.png", pngBytes); code != http.StatusOK {
		t.Fatalf("upload: HTTP %d", code)
	}
	status, body = do(t, "GET", g.url("/mediarequests/"+asked.ID), g.JWT, nil)
	decode(t, body, &m)
	if status != http.StatusOK || m.State != "SUCCESS" {
		t.Fatalf("after the upload: HTTP %d %s", status, body)
	}
	// A closed request takes no answer.
	var e apiError
	status, body = do(t, "PATCH", g.url("/mediarequests/"+asked.ID), g.JWT, map[string]any{"state": "DECLINED"})
	decode(t, body, &e)
	if status != http.StatusConflict || e.Code != "conflict" {
		t.Fatalf("PATCH a settled request: HTTP %d %s", status, body)
	}

	// A second request, answered by a file the deployment refuses.
	ann.Command("AgentService.requestFile", map[string]any{"chatId": g.ID}).Into(t, &asked)
	if code := uploadAs(t, gw, g.JWT, "tool.png", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...)); code != http.StatusUnsupportedMediaType {
		t.Fatalf("refused upload: HTTP %d", code)
	}
	status, body = do(t, "GET", g.url("/mediarequests"), g.JWT, nil)
	decode(t, body, &list)
	if status != http.StatusOK || len(list.Entities) != 2 || list.Entities[0].State != "SUCCESS" ||
		list.Entities[1].ID != asked.ID || list.Entities[1].State != "ERRORED" || list.Entities[1].Types == nil {
		t.Fatalf("media requests: HTTP %d %s", status, body)
	}
	// A third, declined.
	ann.Command("AgentService.requestFile", map[string]any{"chatId": g.ID, "types": []string{"application/pdf"}}).Into(t, &asked)
	status, body = do(t, "PATCH", g.url("/mediarequests/"+asked.ID), g.JWT, map[string]any{"state": "DECLINED"})
	decode(t, body, &m)
	if status != http.StatusOK || m.State != "DECLINED" {
		t.Fatalf("PATCH DECLINED: HTTP %d %s", status, body)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"UnknownID", "GET", "/mediarequests/999", nil, 404, "not.found"},
		{"UnknownIDPatch", "PATCH", "/mediarequests/999", map[string]any{"state": "ACCEPTED"}, 404, "not.found"},
		{"BadState", "PATCH", "/mediarequests/" + asked.ID, map[string]any{"state": "SUCCESS"}, 400, "bad.request"},
		{"NotJSON", "PATCH", "/mediarequests/" + asked.ID, "state=ACCEPTED", 400, "bad.request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, g.url(tc.path), g.JWT, tc.body)
			var e apiError
			decode(t, body, &e)
			if status != tc.status || e.Code != tc.code || e.Status != tc.status || len(e.Details) != 1 {
				t.Fatalf("HTTP %d %s, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	if status, body := do(t, "GET", g.url("/mediarequests"), "", nil); status != http.StatusUnauthorized {
		t.Fatalf("without a jwt: HTTP %d %s", status, body)
	}

	// The preflight of the SDK's PATCH.
	req, _ := http.NewRequest(http.MethodOptions, g.url("/mediarequests/"+asked.ID), nil)
	req.Header.Set("Origin", "http://"+gw.Addr)
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Fatalf("preflight for PATCH: HTTP %d %v", resp.StatusCode, resp.Header)
	}
}

// TestMediaRequestNative: a native visitor sees the agent's request as a
// notice.
func TestMediaRequestNative(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	var st struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Into(t, &st)
	v := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	v.MustAuth(st.Token, 0)
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	ann.Command("AgentService.requestFile", map[string]any{"chatId": st.ChatID, "types": []string{"image/*"}}).Resolved(t)
	var notice string
	v.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		if ev.Name != "WebChatService.messageReceived" {
			return false
		}
		for _, m := range ev.Messages(t) {
			if m.Type == "Notice" && m.From.Type == "Agent" {
				notice = m.Text
				return true
			}
		}
		return false
	})
	if !strings.Contains(notice, "image/*") {
		t.Fatalf("notice %q", notice)
	}
}
