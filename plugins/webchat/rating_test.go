package webchat_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

type ratingResult struct {
	ChatID    string `json:"chatId"`
	Rating    int    `json:"rating"`
	Comment   string `json:"comment"`
	Timestamp int64  `json:"timestamp"`
}

// TestRateChat: a visitor rates its ended chat once; the agent who served it
// hears of it on its stream and reads it in getTranscript; every other
// attempt is a clear rejection.
func TestRateChat(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	gw := servertest.Start(t, servertest.Options{Now: clk.Now})
	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth(gw.AgentToken, 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Into(t, &st)
	v := guest.WithToken(st.Token)
	ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	v.Command("WebChatService.sendMessage", map[string]string{"message": "Where is my parcel?"}).Resolved(t)

	reject := func(name string, r wiretest.Reply, status int, code string) {
		t.Helper()
		e := r.Rejected(t)
		if r.HTTPStatus != 0 && r.HTTPStatus != status || e.Code != code {
			t.Errorf("%s: got HTTP %d %s %q, want %d %s", name, r.HTTPStatus, e.Code, e.Message, status, code)
		}
	}
	reject("open chat", v.Command("WebChatService.rateChat", map[string]any{"rating": 4}), http.StatusConflict, "chat_not_ended")
	reject("no chat", guest.Command("WebChatService.rateChat", map[string]any{"rating": 4}), http.StatusConflict, "no_active_session")

	v.Command("WebChatService.endChat", nil).Resolved(t)
	for name, opts := range map[string]any{
		"no rating": map[string]any{"comment": "hm"}, "zero": map[string]any{"rating": 0}, "six": map[string]any{"rating": 6},
		"a fraction": map[string]any{"rating": 4.5}, "negative": map[string]any{"rating": -1},
	} {
		reject(name, v.Command("WebChatService.rateChat", opts), http.StatusBadRequest, "invalid_rating")
	}
	reject("rating is a string", v.Command("WebChatService.rateChat", map[string]any{"rating": "4"}), http.StatusBadRequest, "invalid_request")
	reject("comment too long", v.Command("WebChatService.rateChat", map[string]any{"rating": 4, "comment": strings.Repeat("é", 1001)}),
		http.StatusRequestEntityTooLarge, "comment_too_long")

	// A comment of exactly the limit is taken.
	comment := "Quick and kind. " + strings.Repeat("ü", 1000-16)
	var got ratingResult
	v.Command("WebChatService.rateChat", map[string]any{"rating": 4, "comment": comment}).Into(t, &got)
	if got.Rating != 4 || got.Comment != comment || got.ChatID != st.ChatID {
		t.Errorf("rateChat resolved %+v", got)
	}
	reject("twice", v.Command("WebChatService.rateChat", map[string]any{"rating": 5}), http.StatusConflict, "already_rated")

	// The agent, who left when the chat ended, still hears of it.
	evs := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatRated" })
	var pushed ratingResult
	wiretest.Decode(t, evs[len(evs)-1].Data, &pushed)
	if pushed != got {
		t.Errorf("chatRated = %+v, want %+v", pushed, got)
	}
	var tr struct {
		Rating *struct {
			Rating  int    `json:"rating"`
			Comment string `json:"comment"`
		} `json:"rating"`
		Chat struct {
			Rating json.RawMessage `json:"rating"`
		} `json:"chat"`
		Messages []wiretest.Message `json:"messages"`
	}
	ann.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Into(t, &tr)
	if tr.Rating == nil || tr.Rating.Rating != 4 || tr.Rating.Comment != comment || len(tr.Chat.Rating) == 0 {
		t.Errorf("getTranscript rating = %+v, chat.rating = %s", tr.Rating, tr.Chat.Rating)
	}
	// The visitor's own transcript and feed carry no event of it.
	var vt struct{ Messages []wiretest.Message }
	v.Command("WebChatService.getTranscript", nil).Into(t, &vt)
	for _, m := range vt.Messages {
		if strings.Contains(m.Text, "Quick and kind") {
			t.Errorf("the visitor's transcript shows the rating: %+v", m)
		}
	}

	// Past the restore window the token is refused; a socket that
	// authenticated before is told the rating closed.
	var st2 started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Ola"}).Into(t, &st2)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(st2.Token, 0)
	sock.Command("WebChatService.endChat", nil).Resolved(t)
	clk.Add(gw.Config().Deployments[0].RestoreTimeout + time.Second)
	reject("after the window, socket", sock.Command("WebChatService.rateChat", map[string]any{"rating": 2}), 0, "rating_closed")
	reject("after the window, HTTP", guest.WithToken(st2.Token).Command("WebChatService.rateChat", map[string]any{"rating": 2}),
		http.StatusUnauthorized, "unauthorized")
}
