package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/plugins/webhooks"
	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/store"
	bolt "go.etcd.io/bbolt"
)

type started struct {
	ChatID        string `json:"chatId"`
	Token         string `json:"token"`
	ParticipantID string `json:"participantId"`
	IdentityToken string `json:"identityToken"` // async deployments
}

// leftReply is what leaveMessage answers.
type leftReply struct {
	ID            string `json:"id"`
	IdentityToken string `json:"identityToken"`
}

// leave leaves a message on guest's deployment as the identity of
// identityToken ("" for a new one).
func leave(t testing.TB, guest *wiretest.HTTP, identityToken, text string) leftReply {
	t.Helper()
	var l leftReply
	guest.Command("WebChatService.leaveMessage", map[string]any{"name": "Visitor", "email": "visitor@example.com",
		"message": text, "identityToken": identityToken,
		"context": map[string]any{"pages": []any{map[string]any{"title": "Cart", "url": "https://shop.example/cart", "at": 1}}}}).Into(t, &l)
	if l.ID == "" || l.IdentityToken == "" {
		t.Fatalf("leaveMessage: %+v", l)
	}
	return l
}

// leftIDs lists the ids of the messages listLeftMessages shows the
// identity of identityToken.
func leftIDs(t testing.TB, guest *wiretest.HTTP, identityToken string) []string {
	t.Helper()
	var got struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	guest.Command("WebChatService.listLeftMessages", map[string]string{"identityToken": identityToken}).Into(t, &got)
	var ids []string
	for _, m := range got.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// agentListed reports which of ids AgentService.listMessages shows, open
// or answered.
func agentListed(t testing.TB, agent *wiretest.HTTP, ids ...string) map[string]bool {
	t.Helper()
	var l struct {
		Open, Answered []struct {
			ID string `json:"id"`
		}
	}
	agent.Command("AgentService.listMessages", nil).Into(t, &l)
	out := map[string]bool{}
	for _, m := range append(l.Open, l.Answered...) {
		if slices.Contains(ids, m.ID) {
			out[m.ID] = true
		}
	}
	return out
}

// outboxOf lists the webhook deliveries, pending and dead, of left message id.
func outboxOf(t testing.TB, st *store.Store, id string) []model.OutboxEntry {
	t.Helper()
	var out []model.OutboxEntry
	for _, state := range []model.OutboxState{model.OutboxPending, model.OutboxDead} {
		es, err := st.ListOutbox(context.Background(), state, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if strings.HasPrefix(e.EventID, id+":") {
				out = append(out, e)
			}
		}
	}
	return out
}

// uploadFile posts content as a file of the visitor's chat and returns its id.
func uploadFile(t testing.TB, gw *servertest.Gateway, token string, content []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile("file", "notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	part.Write(content)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/files", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	var f struct {
		FileID string `json:"fileId"`
	}
	wiretest.NewHTTP(t, gw.URL).Do(req).Into(t, &f)
	return f.FileID
}

// get sends a GET with token ("" for none): status and body.
func get(t testing.TB, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func rest(t testing.TB, gw *servertest.Gateway, method, path string) wiretest.Reply {
	t.Helper()
	req, _ := http.NewRequest(method, gw.URL+path, nil)
	return wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken).Do(req)
}

// hookReceiver records the bodies of the webhook requests it gets.
type hookReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
}

func (h *hookReceiver) erased() []webhooks.ErasedPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []webhooks.ErasedPayload
	for _, b := range h.bodies {
		var p webhooks.ErasedPayload
		if json.Unmarshal(b, &p) == nil && p.Event == webhooks.EventIdentityErased {
			out = append(out, p)
		}
	}
	return out
}

// TestErase erases a visitor with two async conversations and a file, one
// of them open with an agent in it, and checks that nothing of it can be
// read anywhere afterwards while another visitor's conversation is whole.
func TestErase(t *testing.T) {
	ctx := context.Background()
	recv := &hookReceiver{}
	hooks := httptest.NewServer(recv)
	defer hooks.Close()
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	// A site that fails: the deliveries of left messages stay in the outbox.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	cfg.Webhooks = []config.Webhook{{ID: "site", URL: hooks.URL, Secret: "hook-secret", Events: []string{webhooks.EventIdentityErased}},
		{ID: "down", URL: down.URL, Secret: "hook-secret", Events: []string{"message.left", "message.answered"}}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	agentSocket := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	agentSocket.MustAuth(gw.AgentToken, 0)

	var pia, pia2, leo started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Pia", "email": "pia@example.com"}).Into(t, &pia)
	v1 := guest.WithToken(pia.Token)
	v1.Command("WebChatService.sendMessage", map[string]string{"message": "my address is 1 Main St"}).Resolved(t)
	secret := []byte("Pia's passport scan: P1234567 " + strings.Repeat("x", 4000))
	piaFile := uploadFile(t, gw, pia.Token, secret)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, pia.ChatID)
		return c.State == model.StateActive
	})
	ann.Command("AgentService.sendMessage", map[string]string{"chatId": pia.ChatID, "message": "noted"}).Resolved(t)
	v1.Command("WebChatService.startChat", map[string]any{"newConversation": true}).Into(t, &pia2)
	v2 := guest.WithToken(pia2.Token)
	v2.Command("WebChatService.sendMessage", map[string]string{"message": "another topic"}).Resolved(t)
	if pia2.ParticipantID != pia.ParticipantID || pia2.ChatID == pia.ChatID {
		t.Fatalf("second conversation %+v of %+v", pia2, pia)
	}
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Leo"}).Into(t, &leo)
	vl := guest.WithToken(leo.Token)
	vl.Command("WebChatService.sendMessage", map[string]string{"message": "Leo's question"}).Resolved(t)
	leoFile := uploadFile(t, gw, leo.Token, []byte("Leo's file"))
	// Pia also left two messages, one answered; Leo one.
	piaLeft := leave(t, guest, pia.IdentityToken, "Pia's phone is 555-0100")
	piaLeft2 := leave(t, guest, piaLeft.IdentityToken, "Pia again")
	ann.Command("AgentService.answerMessage", map[string]string{"id": piaLeft2.ID, "message": "We'll call you"}).Resolved(t)
	leoLeft := leave(t, guest, leo.IdentityToken, "Leo's left message")
	for _, l := range []leftReply{piaLeft, piaLeft2} {
		if m, err := gw.Store().LeftMessage(ctx, l.ID); err != nil || m.IdentityID != pia.ParticipantID {
			t.Fatalf("Pia's left message: %+v, %v", m, err)
		}
	}
	if got := leftIDs(t, guest, pia.IdentityToken); len(got) != 2 {
		t.Fatalf("Pia's left messages before erasure: %v", got)
	}
	piaDeliveries := len(outboxOf(t, gw.Store(), piaLeft.ID)) + len(outboxOf(t, gw.Store(), piaLeft2.ID))
	if piaDeliveries != 3 || len(outboxOf(t, gw.Store(), leoLeft.ID)) != 1 {
		t.Fatalf("deliveries of the left messages before erasure: Pia's %d, want 3 (left, left, answered)", piaDeliveries)
	}
	before, err := gw.Store().KeyCounts()
	if err != nil {
		t.Fatal(err)
	}

	var got lifecycle.ErasedReply
	rest(t, gw, http.MethodDelete, "/v1/admin/identities/"+pia.ParticipantID).Into(t, &got)
	if got.IdentityID != pia.ParticipantID || !got.Erased || len(got.ChatIDs) != 2 || got.Deleted.Chats != 2 ||
		got.Deleted.Files != 1 || got.Deleted.FileBytes != int64(len(secret)) || got.Deleted.Identities != 1 ||
		got.Deleted.Tokens < 2 || got.Deleted.Events < 6 || got.Ended == 0 || got.Deleted.LeftMessages != 2 ||
		got.Deleted.Deliveries < 3 {
		t.Errorf("erasure answered %+v", got)
	}
	// The agent in the open conversation was told it ended.
	agentSocket.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		return ev.Name == "AgentService.chatEnded" && bytes.Contains(ev.Data, []byte(pia.ChatID)) &&
			bytes.Contains(ev.Data, []byte(`"by":"erased"`))
	})

	// A second call, by identity or by chat, is a 404.
	for _, path := range []string{"/v1/admin/identities/" + pia.ParticipantID, "/v1/admin/chats/" + pia.ChatID + "/identity"} {
		if r := rest(t, gw, http.MethodDelete, path); r.HTTPStatus != http.StatusNotFound || r.Rejected(t).Code != "not_found" {
			t.Errorf("DELETE %s again: HTTP %d %s", path, r.HTTPStatus, r.Body)
		}
	}
	if r := rest(t, gw, http.MethodGet, "/v1/admin/identities/"+pia.ParticipantID+"/export"); r.HTTPStatus != http.StatusNotFound {
		t.Errorf("export after erasure: HTTP %d %s", r.HTTPStatus, r.Body)
	}
	// Nothing of Pia is readable on any wire.
	for _, tok := range []string{pia.Token, pia2.Token} {
		if r := guest.WithToken(tok).Command("WebChatService.getTranscript", nil); r.HTTPStatus != http.StatusUnauthorized {
			t.Errorf("visitor token after erasure: HTTP %d %s", r.HTTPStatus, r.Body)
		}
		if status, body := get(t, gw.URL+"/v1/files/"+piaFile, tok); status != http.StatusUnauthorized {
			t.Errorf("file with the visitor token: HTTP %d %s", status, body)
		}
	}
	for _, id := range []string{pia.ChatID, pia2.ChatID} {
		if r := ann.Command("AgentService.getTranscript", map[string]string{"chatId": id}); r.HTTPStatus != http.StatusNotFound {
			t.Errorf("agent transcript of %s: HTTP %d %s", id, r.HTTPStatus, r.Body)
		}
	}
	if status, body := get(t, gw.URL+"/v1/files/"+piaFile+"?chatId="+pia.ChatID, gw.AgentToken); status != http.StatusNotFound {
		t.Errorf("file with the agent token: HTTP %d %s", status, body)
	}
	// Nor in the store: the file's bytes are gone.
	if _, _, err := gw.Store().FileContent(ctx, piaFile); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("file content after erasure: %v", err)
	}
	after, _ := gw.Store().KeyCounts()
	for name, n := range map[string]int{"chats": 2, "files": 1, "file_data": 1, "identities": 1, "identity_chats": 2, "open": 2,
		"left_messages": 2, "left_open": 1, "left_answered": 1, "identity_left": 2} {
		if before[name]-after[name] != n {
			t.Errorf("bucket %s: %d keys before, %d after, want %d fewer", name, before[name], after[name], n)
		}
	}
	// Nor are the messages Pia left, nor their webhook deliveries.
	for _, l := range []leftReply{piaLeft, piaLeft2} {
		if _, err := gw.Store().LeftMessage(ctx, l.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("left message %s after erasure: %v", l.ID, err)
		}
		if es := outboxOf(t, gw.Store(), l.ID); len(es) != 0 {
			t.Errorf("deliveries of left message %s after erasure: %+v", l.ID, es)
		}
	}
	for _, tok := range []string{pia.IdentityToken, piaLeft.IdentityToken, piaLeft2.IdentityToken} {
		if got := leftIDs(t, guest, tok); len(got) != 0 {
			t.Errorf("listLeftMessages with Pia's identity token after erasure: %v", got)
		}
	}
	if got := agentListed(t, ann, piaLeft.ID, piaLeft2.ID, leoLeft.ID); got[piaLeft.ID] || got[piaLeft2.ID] || !got[leoLeft.ID] {
		t.Errorf("AgentService.listMessages after erasure shows %v, want Leo's only", got)
	}
	// The site is told.
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return len(recv.erased()) == 1 })
	if p := recv.erased()[0]; p.IdentityID != pia.ParticipantID || len(p.ChatIDs) != 2 || p.Deleted.Chats != 2 ||
		p.Deleted.LeftMessages != 2 {
		t.Errorf("identity.erased: %+v", p)
	}

	// Leo is untouched.
	var tr struct {
		Messages []struct {
			Text string `json:"text"`
		} `json:"messages"`
	}
	vl.Command("WebChatService.getTranscript", nil).Into(t, &tr)
	if !bytes.Contains(mustJSON(t, tr), []byte("Leo's question")) {
		t.Errorf("Leo's transcript: %+v", tr)
	}
	if status, body := get(t, gw.URL+"/v1/files/"+leoFile, leo.Token); status != http.StatusOK || string(body) != "Leo's file" {
		t.Errorf("Leo's file: HTTP %d %q", status, body)
	}
	if got := leftIDs(t, guest, leo.IdentityToken); len(got) != 1 || got[0] != leoLeft.ID {
		t.Errorf("Leo's left messages: %v", got)
	}
	if es := outboxOf(t, gw.Store(), leoLeft.ID); len(es) != 1 {
		t.Errorf("deliveries of Leo's left message: %+v", es)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExport exports a visitor: identity, chats, transcripts and files,
// whose signed links work without a token until they expire, and only for
// their file.
func TestExport(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var pia started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Pia"}).Into(t, &pia)
	guest.WithToken(pia.Token).Command("WebChatService.sendMessage", map[string]string{"message": "hello there"}).Resolved(t)
	fileID := uploadFile(t, gw, pia.Token, []byte("Pia's notes"))
	left := leave(t, guest, pia.IdentityToken, "Pia's left message")
	wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken).Command("AgentService.answerMessage",
		map[string]string{"id": left.ID, "message": "Answered"}).Resolved(t)
	leave(t, guest, "", "someone else's")

	var ex lifecycle.Export
	rest(t, gw, http.MethodGet, "/v1/admin/identities/"+pia.ParticipantID+"/export").Into(t, &ex)
	if ex.Identity == nil || ex.Identity.ID != pia.ParticipantID || len(ex.Chats) != 1 {
		t.Fatalf("export: %+v", ex)
	}
	if len(ex.LeftMessages) != 1 {
		t.Fatalf("exported left messages: %+v", ex.LeftMessages)
	}
	if m := ex.LeftMessages[0]; m.ID != left.ID || m.Message != "Pia's left message" || m.Email != "visitor@example.com" ||
		!bytes.Contains(m.Context, []byte("shop.example/cart")) || m.Answer == nil || m.Answer.Text != "Answered" {
		t.Errorf("exported left message: %+v", m)
	}
	c := ex.Chats[0]
	if c.Chat.ID != pia.ChatID || !bytes.Contains(mustJSON(t, c.Transcript), []byte("hello there")) || len(c.Files) != 1 {
		t.Fatalf("exported chat: %+v", c)
	}
	f := c.Files[0]
	if f.ID != fileID || f.Name != "notes.txt" || f.URL == "" || ex.LinksExpireAt <= ex.ExportedAt {
		t.Fatalf("exported file: %+v", f)
	}
	if status, body := get(t, gw.URL+f.URL, ""); status != http.StatusOK || string(body) != "Pia's notes" {
		t.Errorf("signed link: HTTP %d %q", status, body)
	}
	// A link changed in any part is refused.
	for _, bad := range []string{
		strings.Replace(f.URL, "expires=", "expires=9", 1),
		strings.Replace(f.URL, fileID, fileID+"x", 1),
		f.URL[:len(f.URL)-2],
	} {
		if status, body := get(t, gw.URL+bad, ""); status != http.StatusForbidden || !bytes.Contains(body, []byte("link_invalid")) {
			t.Errorf("forged link %s: HTTP %d %s", bad, status, body)
		}
	}
	if r := wiretest.NewHTTP(t, gw.URL).WithToken(pia.Token).Command(lifecycle.CommandExport, map[string]string{"identityId": pia.ParticipantID}); r.HTTPStatus != http.StatusForbidden {
		t.Errorf("export by a visitor: HTTP %d %s", r.HTTPStatus, r.Body)
	}
}

// TestErase_ByChatOverGMS erases the identity of a chat started over the
// GMS wire, by the chat's id: the GMS session can no longer read it.
func TestErase_ByChatOverGMS(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	gms := func(path string, form url.Values) (int, string) {
		resp, err := http.PostForm(gw.URL+"/genesys/2/chat/demo/"+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, body := gms("", url.Values{"nickname": {"Rita"}, "emailAddress": {"rita@example.com"}})
	var e struct{ ChatID, UserID, SecureKey, Alias string }
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.ChatID == "" {
		t.Fatalf("GMS request chat: %s", body)
	}
	keys := url.Values{"userId": {e.UserID}, "secureKey": {e.SecureKey}, "alias": {e.Alias}}
	gms(e.ChatID+"/send", url.Values{"userId": {e.UserID}, "secureKey": {e.SecureKey}, "alias": {e.Alias}, "message": {"my card number"}})
	if _, body := gms(e.ChatID+"/refresh", keys); !strings.Contains(body, "my card number") {
		t.Fatalf("GMS refresh before erasure: %s", body)
	}
	var got lifecycle.ErasedReply
	rest(t, gw, http.MethodDelete, "/v1/admin/chats/"+e.ChatID+"/identity").Into(t, &got)
	if got.Deleted.Chats != 1 || got.ChatIDs[0] != e.ChatID || got.Ended != 1 {
		t.Errorf("erasure by chat: %+v", got)
	}
	if _, body := gms(e.ChatID+"/refresh", keys); strings.Contains(body, "my card number") || !strings.Contains(body, `"errors"`) {
		t.Errorf("GMS refresh after erasure: %s", body)
	}
}

// TestErase_OpenSocket erases a visitor while its socket is open: the
// socket is told the chat ended, and every command on it afterwards is
// answered as one without a session, never an internal error.
func TestErase_OpenSocket(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var pia started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Pia"}).Into(t, &pia)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(pia.Token, 0)
	rest(t, gw, http.MethodDelete, "/v1/admin/identities/"+pia.ParticipantID).Resolved(t)
	sock.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "WebChatService.ended" })
	for _, c := range []string{"getTranscript", "fetchHistory", "sendMessage", "getSessionData", "listConversations",
		"getAgents", "markRead", "restore"} {
		r := sock.Command("WebChatService."+c, map[string]any{"message": "x"})
		if e := r.Rejected(t); e.Code != "no_active_session" && e.Code != "restore_failed" {
			t.Errorf("%s after erasure: %s", c, r.Body)
		}
	}
}

// TestErase_LeftMessages erases by chat id the identity of an async
// conversation whose visitor also left a message, and by identity id a
// visitor who only left one: their messages go with them, the answer
// counts them, and a visitor who left one too keeps it.
func TestErase_LeftMessages(t *testing.T) {
	ctx := context.Background()
	gw := servertest.Start(t, servertest.Options{})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	var pia started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Pia"}).Into(t, &pia)
	piaLeft := leave(t, guest, pia.IdentityToken, "Pia's message")
	zoeLeft := leave(t, guest, "", "Zoe never chatted")
	leoLeft := leave(t, guest, "", "Leo never chatted either")
	zoe, err := gw.Store().LeftMessage(ctx, zoeLeft.ID)
	if err != nil {
		t.Fatal(err)
	}

	var got lifecycle.ErasedReply
	rest(t, gw, http.MethodDelete, "/v1/admin/chats/"+pia.ChatID+"/identity").Into(t, &got)
	if got.IdentityID != pia.ParticipantID || got.Deleted.Chats != 1 || got.Deleted.LeftMessages != 1 || got.Deleted.Identities != 1 {
		t.Errorf("erasure by chat: %+v", got)
	}
	rest(t, gw, http.MethodDelete, "/v1/admin/identities/"+zoe.IdentityID).Into(t, &got)
	if got.IdentityID != zoe.IdentityID || got.Deleted.Chats != 0 || got.Deleted.LeftMessages != 1 || got.Deleted.Identities != 1 {
		t.Errorf("erasure of a visitor who only left a message: %+v", got)
	}
	if r := rest(t, gw, http.MethodDelete, "/v1/admin/identities/"+zoe.IdentityID); r.HTTPStatus != http.StatusNotFound {
		t.Errorf("second erasure: HTTP %d %s", r.HTTPStatus, r.Body)
	}
	for _, l := range []leftReply{piaLeft, zoeLeft} {
		if _, err := gw.Store().LeftMessage(ctx, l.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("left message %s after erasure: %v", l.ID, err)
		}
		if ids := leftIDs(t, guest, l.IdentityToken); len(ids) != 0 {
			t.Errorf("listLeftMessages after erasure: %v", ids)
		}
	}
	if listed := agentListed(t, ann, piaLeft.ID, zoeLeft.ID, leoLeft.ID); len(listed) != 1 || !listed[leoLeft.ID] {
		t.Errorf("AgentService.listMessages after erasure shows %v, want Leo's only", listed)
	}
	if ids := leftIDs(t, guest, leoLeft.IdentityToken); len(ids) != 1 || ids[0] != leoLeft.ID {
		t.Errorf("Leo's left messages: %v", ids)
	}

	// A message left as an identity erased since the visitor's token was
	// read is left as a new identity: the erased one gets nothing back.
	m, err := gw.Engine().LeaveMessage(ctx, engine.LeaveRequest{Deployment: "demo-async", Message: "late",
		Identity: &model.Identity{ID: zoe.IdentityID}})
	if err != nil || m.IdentityID == zoe.IdentityID {
		t.Fatalf("a message as an erased identity: %+v, %v", m, err)
	}
	if _, err := gw.Store().Identity(ctx, zoe.IdentityID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("the erased identity came back: %v", err)
	}
	if _, err := gw.Store().Identity(ctx, m.IdentityID); err != nil {
		t.Errorf("the new identity of the late message: %v", err)
	}
}

// TestErase_OrphanedLeftMessages: a store whose sweeps predate left
// messages may hold messages whose identity record went with its last
// chat; erasure by that identity's id still deletes them.
func TestErase_OrphanedLeftMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var left leftReply
	var identityID string
	t.Run("Before", func(t *testing.T) {
		gw := servertest.Start(t, servertest.Options{DataDir: dir})
		left = leave(t, wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async"), "", "orphaned")
		m, err := gw.Store().LeftMessage(ctx, left.ID)
		if err != nil {
			t.Fatal(err)
		}
		identityID = m.IdentityID
	})
	if t.Failed() {
		return
	}
	// What an older sweep did: the identity record deleted, its message kept.
	db, err := bolt.Open(filepath.Join(dir, "cxgate.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("identities")).Delete([]byte(identityID)) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	gw := servertest.Start(t, servertest.Options{DataDir: dir})
	var got lifecycle.ErasedReply
	rest(t, gw, http.MethodDelete, "/v1/admin/identities/"+identityID).Into(t, &got)
	if got.Deleted.LeftMessages != 1 || got.Deleted.Identities != 0 {
		t.Errorf("erasure of an orphaned message's identity: %+v", got)
	}
	if _, err := gw.Store().LeftMessage(ctx, left.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("orphaned message after erasure: %v", err)
	}
	if r := rest(t, gw, http.MethodDelete, "/v1/admin/identities/"+identityID); r.HTTPStatus != http.StatusNotFound {
		t.Errorf("second erasure: HTTP %d %s", r.HTTPStatus, r.Body)
	}
}
