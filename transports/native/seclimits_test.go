package native_test

import (
	"bytes"
	"net/http"
	"testing"

	fws "github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/transports/native"
)

// TestSocketCommandsSpendTheRateBudgets: commands over a socket spend the
// per-token budget of HTTP: a burst past it is refused, frame by frame, with
// rate_limited and the seconds to wait, and the socket stays open.
func TestSocketCommandsSpendTheRateBudgets(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerToken, cfg.Limits.RatePerIP = 5, 1000
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	var chat struct{ Token string }
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &chat)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(chat.Token, 0)

	var resolved, limited int
	var refused wiretest.Reply
	for range 50 {
		r := sock.Command("WebChatService.sendMessage", map[string]any{"message": "spam"})
		switch {
		case r.Status == "resolved":
			resolved++
		case r.Error != nil && r.Error.Code == "rate_limited":
			limited, refused = limited+1, r
		default:
			t.Fatalf("unexpected reply %s", r.Body)
		}
	}
	if limited == 0 {
		t.Fatalf("50 sendMessage frames in a burst at ratePerToken 5: %d resolved, none refused", resolved)
	}
	if !bytes.Contains(refused.Body, []byte(`"retryAfter":1`)) {
		t.Errorf("refused frame's reply %s has no retryAfter", refused.Body)
	}
	if sock.Closed() {
		t.Fatal("the socket closed on a rate limit; it should only refuse the frame")
	}
	// The HTTP budget of the same token is the one the socket spent.
	for range 50 {
		r := wiretest.NewHTTP(t, gw.URL).WithToken(chat.Token).Command("WebChatService.getTranscript", nil)
		if r.HTTPStatus == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatal("HTTP commands of the token were never limited")
}

// TestSocketsPerChat: past limits.socketsPerChat a chat's next socket is
// refused with too_many_sockets and closed 4429; closing one makes room.
func TestSocketsPerChat(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerToken, cfg.Limits.RatePerIP, cfg.Limits.SocketsPerChat = -1, -1, 2
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	var chat struct{ Token string }
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &chat)
	first := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	first.MustAuth(chat.Token, 0)
	second := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	second.MustAuth(chat.Token, 0)

	third := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	if r := third.Auth(chat.Token, 0); r.Error == nil || r.Error.Code != "too_many_sockets" {
		t.Fatalf("third socket of a chat at socketsPerChat 2: %s", r.Body)
	}
	if code, _ := third.WaitClose(wiretest.Timeout); code != native.CloseTooManySockets {
		t.Fatalf("third socket closed with %d, want %d", code, native.CloseTooManySockets)
	}

	first.Close()
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return gw.Sockets() == 1 })
	wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{}).MustAuth(chat.Token, 0)
}

// TestInvalidUTF8TextFrameCloses1007: a text frame that is not UTF-8 closes
// the socket with 1007 (RFC 6455 §8.1), and nothing of it is stored.
func TestInvalidUTF8TextFrameCloses1007(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var chat struct{ Token string }
	guest.Command("WebChatService.startChat", nil).Into(t, &chat)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(chat.Token, 0)
	sock.MustWrite([]byte("{\"id\":1,\"command\":\"WebChatService.sendMessage\",\"options\":{\"message\":\"caf\xe9 \xff\"}}"))
	if code, _ := sock.WaitClose(wiretest.Timeout); code != fws.CloseInvalidFramePayloadData {
		t.Fatalf("invalid UTF-8 text frame: closed with %d, want 1007", code)
	}
	transcript := guest.WithToken(chat.Token).Command("WebChatService.getTranscript", nil).Resolved(t)
	if bytes.Contains(transcript, []byte("caf")) || bytes.Contains(transcript, []byte(`\ufffd`)) || bytes.Contains(transcript, []byte("\uFFFD")) {
		t.Fatalf("the invalid frame was stored: %s", transcript)
	}
}
