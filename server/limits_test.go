package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestChatStartsPerIPOnEveryWire: limits.chatsPerIPPerMinute is one budget
// of the client IP across the wires: chats started over native HTTP, the
// native socket, GMS and guest chat spend it together, and once it is spent
// each wire refuses the next start with 429 and the time to wait.
func TestChatStartsPerIPOnEveryWire(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken, cfg.Limits.ChatsPerIPPerMinute = -1, -1, 4
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")

	// One start on each wire.
	var first struct{ Token string }
	guest.Command("WebChatService.startChat", nil).Into(t, &first)
	guest.WithToken(first.Token).Command("WebChatService.endChat", nil).Resolved(t)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(first.Token, 0)
	sock.Command("WebChatService.startChat", nil).Resolved(t)
	if status, body := gmsStart(t, gw.URL); status != http.StatusOK {
		t.Fatalf("GMS request chat: HTTP %d %s", status, body)
	}
	if status, body := guestChatStart(t, gw.URL); status != http.StatusOK {
		t.Fatalf("guest chat create: HTTP %d %s", status, body)
	}

	// The budget is spent: every wire refuses.
	if r := guest.Command("WebChatService.startChat", nil); r.HTTPStatus != http.StatusTooManyRequests ||
		r.Header.Get("Retry-After") == "" || r.Error == nil || r.Error.Code != "rate_limited" {
		t.Errorf("native HTTP: HTTP %d %s %v", r.HTTPStatus, r.Body, r.Header)
	}
	if r := sock.Command("WebChatService.startChat", nil); r.Error == nil || r.Error.Code != "rate_limited" ||
		!bytes.Contains(r.Body, []byte(`"retryAfter":`)) {
		t.Errorf("native socket: %s", r.Body)
	}
	if status, body := gmsStart(t, gw.URL); status != http.StatusTooManyRequests {
		t.Errorf("GMS: HTTP %d %s", status, body)
	}
	if status, body := guestChatStart(t, gw.URL); status != http.StatusTooManyRequests {
		t.Errorf("guest chat: HTTP %d %s", status, body)
	}
}

func gmsStart(t *testing.T, base string) (int, []byte) {
	t.Helper()
	resp, err := http.PostForm(base+"/genesys/2/chat/demo", url.Values{"nickname": {"Rita"}})
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

func guestChatStart(t *testing.T, base string) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"organizationId": "org", "deploymentId": "demo",
		"routingTarget": map[string]any{"targetType": "QUEUE", "targetAddress": "support"},
		"memberInfo":    map[string]any{"displayName": "Rita", "role": "CUSTOMER"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/v2/webchat/guest/conversations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

func readAll(t *testing.T, resp *http.Response) (int, []byte) {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestStoreBytesPerIP: the visitor commands of one client IP add at most
// limits.storeBytesPerMinute to the store per minute: userData updates of
// 14 KB (each stores the chat's merged userData) are refused with 429 once
// the budget is spent, over HTTP and the socket alike.
func TestStoreBytesPerIP(t *testing.T) {
	const budget = 256 << 10
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken, cfg.Limits.StoreBytesPerMinute = -1, -1, budget
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	var chat struct{ Token string }
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &chat)
	visitor := wiretest.NewHTTP(t, gw.URL).WithToken(chat.Token)
	sock := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	sock.MustAuth(chat.Token, 0)

	big := strings.Repeat("x", 14000)
	var accepted int
	for i := range 200 {
		opts := map[string]any{"k": big[:len(big)-len(strconv.Itoa(i))] + strconv.Itoa(i)}
		var r wiretest.Reply
		if i%2 == 0 {
			r = visitor.Command("WebChatService.updateUserData", opts)
		} else {
			r = sock.Command("WebChatService.updateUserData", opts)
		}
		if r.Status == "resolved" {
			accepted++
			continue
		}
		if r.Error == nil || r.Error.Code != "rate_limited" {
			t.Fatalf("update %d: %s", i, r.Body)
		}
	}
	if accepted == 0 || accepted*14000 > budget {
		t.Fatalf("%d updates of 14 KB accepted from one IP under a budget of %d bytes a minute", accepted, budget)
	}
}

// TestConnectionsPerIP: past limits.connectionsPerIP open connections from
// one address, the next is answered 429 and closed before anything of it
// is read; closing one makes room.
func TestConnectionsPerIP(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken, cfg.Limits.ConnectionsPerIP = -1, -1, 3
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	var open []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Each is served: the server has counted it.
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %v %v", len(open)+1, resp, err)
		}
		resp.Body.Close()
		open = append(open, c)
	}
	over, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	_ = over.SetReadDeadline(time.Now().Add(wiretest.Timeout))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil {
		t.Fatalf("fourth connection at connectionsPerIP 3: %v, want a 429", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !bytes.Contains(body, []byte(`"rate_limited"`)) {
		t.Fatalf("fourth connection: HTTP %d %s", resp.StatusCode, body)
	}
	open[0].Close()
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, err := net.Dial("tcp", gw.Addr)
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
