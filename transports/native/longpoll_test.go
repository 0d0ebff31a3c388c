package native_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/wiretest"
)

// TestResume_LongPoll: a long-poller that saw up to seq N and comes back
// after the agent wrote gets every later event exactly once.
func TestResume_LongPoll(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita")
	n := visitorSays(t, c, "is anyone there?")

	res := c.visitor.Poll(0, wiretest.Timeout)
	wiretest.CheckSequence(t, res.Events, 1, n)
	if got := fmt.Sprint(res.Events); got != "[WebChatService.started#1 WebChatService.messageReceived#1 WebChatService.clientConnected#1 "+
		"WebChatService.messageReceived#2 WebChatService.agentConnected#2 WebChatService.messageReceived#3]" {
		t.Errorf("first poll: %s", got)
	}

	var m uint64
	for i := 1; i <= 5; i++ {
		m = g.annSays(t, c.ID, fmt.Sprintf("while you were away %d", i))
	}
	res = c.visitor.Poll(n, wiretest.Timeout)
	if res.Elapsed > 2*time.Second {
		t.Errorf("a poll with events waiting took %v", res.Elapsed)
	}
	got := res.Events
	marker := g.annSays(t, c.ID, "welcome back")
	got = append(got, c.visitor.Poll(m, wiretest.Timeout).Events...)
	wiretest.CheckSequence(t, got, n+1, marker)
	texts := textsOf(t, got)
	for i := uint64(1); i <= 5; i++ {
		if want := fmt.Sprintf("Agent: while you were away %d", i); texts[n+i] != want {
			t.Errorf("seq %d: %q, want %q", n+i, texts[n+i], want)
		}
	}
	if len(texts) != 6 || texts[marker] != "Agent: welcome back" {
		t.Errorf("messages after resuming: %v", texts)
	}
}

// TestLongPoll_Deadline: nothing new means {"events":[]} at the deadline,
// not before and not much after. The chat is Ann's already: a waiting chat
// would get its queue position pushed whenever routing comes round, which
// is news.
func TestLongPoll_Deadline(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita") // seq 2: Ann joined
	const wait = time.Second
	res := c.visitor.Poll(2, wait)
	if string(res.Body) != `{"events":[]}` {
		t.Errorf("empty poll answered %s", res.Body)
	}
	if res.Elapsed < wait-50*time.Millisecond || res.Elapsed > wait+2*time.Second {
		t.Errorf("empty poll with wait %v answered after %v", wait, res.Elapsed)
	}
	// wait=0 answers at once.
	if res := c.visitor.Poll(2, 0); string(res.Body) != `{"events":[]}` || res.Elapsed > time.Second {
		t.Errorf("poll with wait 0: %s after %v", res.Body, res.Elapsed)
	}
}

// TestLongPoll_Wakes: a waiting poll answers as soon as something is sent.
func TestLongPoll_Wakes(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita")
	topic := bus.ChatTopic(c.ID)

	t.Run("Message", func(t *testing.T) {
		pending := c.visitor.PollAsync(2, 30*time.Second)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return g.Bus().Subscribers(topic) == 1 })
		sentAt := time.Now()
		seq := g.annSays(t, c.ID, "hello")
		select {
		case res := <-pending:
			if d := time.Since(sentAt); d > 2*time.Second {
				t.Errorf("the waiting poll answered %v after the message", d)
			}
			wiretest.CheckSequence(t, res.Events, seq, seq)
			if texts := textsOf(t, res.Events); texts[seq] != "Agent: hello" {
				t.Errorf("woken poll: %v", texts)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting poll did not answer the message")
		}
	})

	t.Run("Typing", func(t *testing.T) {
		pending := c.visitor.PollAsync(3, 30*time.Second)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return g.Bus().Subscribers(topic) == 1 })
		g.ann.Command("AgentService.sendTyping", map[string]any{"chatId": c.ID, "isTyping": true}).Resolved(t)
		select {
		case res := <-pending:
			if len(res.Events) != 1 || res.Events[0].Name != "WebChatService.agentTypingStarted" || res.Events[0].Seq != 0 {
				t.Errorf("woken by typing: %s", res.Body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting poll did not answer the typing indicator")
		}
	})

	t.Run("Shutdown", func(t *testing.T) {
		pending := c.visitor.PollAsync(3, 30*time.Second)
		wiretest.WaitFor(t, wiretest.Timeout, func() bool { return g.Bus().Subscribers(topic) == 1 })
		stopped := make(chan error, 1)
		go func() { stopped <- g.Gateway.Gateway().Shutdown(t.Context()) }()
		select {
		case res := <-pending:
			if string(res.Body) != `{"events":[]}` {
				t.Errorf("poll ended by shutdown: %s", res.Body)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("shutdown did not end the waiting poll")
		}
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("shutdown: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("shutdown did not return")
		}
	})
}

func TestLongPoll_Rejections(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartChat(t, "Rita")
	get := func(client *wiretest.HTTP, query string) wiretest.Reply {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, g.URL+"/v1/events"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		return client.Do(req)
	}
	for _, tc := range []struct {
		name   string
		client *wiretest.HTTP
		query  string
		status int
		code   string
	}{
		{"NoToken", g.guest, "?after=0&wait=0", 403, "forbidden"},
		{"BadToken", g.guest.WithToken("nobody"), "?after=0&wait=0", 401, "unauthorized"},
		{"BadAfter", c.visitor, "?after=-1&wait=0", 400, "invalid_request"},
		{"BadWait", c.visitor, "?after=0&wait=soon", 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(tc.client, tc.query)
			if e := r.Rejected(t); r.HTTPStatus != tc.status || e.Code != tc.code {
				t.Errorf("GET /v1/events%s: HTTP %d %+v, want %d %s", tc.query, r.HTTPStatus, e, tc.status, tc.code)
			}
		})
	}
}

// TestLongPoll_WaitClamped: a wait beyond the longest (1e10 seconds, Inf,
// more than a float holds) waits the longest, not nothing; a wait that is no
// number of seconds is refused. Such waits once overflowed the conversion to
// a duration and answered at once with nothing.
func TestLongPoll_WaitClamped(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita")
	topic := bus.ChatTopic(c.ID)
	after := c.visitor.Poll(0, 0).Events
	last := after[len(after)-1].Seq
	get := func(wait string) (int, []byte) {
		req, err := http.NewRequest(http.MethodGet, g.URL+"/v1/events?after="+strconv.FormatUint(last, 10)+"&wait="+url.QueryEscape(wait), nil)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	for _, wait := range []string{"1e10", "Inf", "+inf", "1e400", "9223372036"} {
		t.Run(wait, func(t *testing.T) {
			type answer struct {
				status int
				body   []byte
			}
			done := make(chan answer, 1)
			go func() { s, b := get(wait); done <- answer{s, b} }()
			var early *answer
			wiretest.WaitFor(t, wiretest.Timeout, func() bool {
				select {
				case a := <-done:
					early = &a
					return true
				default:
					return g.Bus().Subscribers(topic) == 1
				}
			})
			if early != nil {
				t.Fatalf("wait=%s answered before anything happened: HTTP %d %s", wait, early.status, early.body)
			}
			seq := g.annSays(t, c.ID, "woken "+wait)
			a := <-done
			if a.status != http.StatusOK || !strings.Contains(string(a.body), "woken "+wait) {
				t.Errorf("wait=%s: HTTP %d %s, want the message", wait, a.status, a.body)
			}
			last = seq
		})
	}
	for _, wait := range []string{"NaN", "-1", "-Inf", "-1e400", "0x"} {
		status, body := get(wait)
		if status != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_request"`) {
			t.Errorf("wait=%s: HTTP %d %s, want 400 invalid_request", wait, status, body)
		}
	}
}
