package native_test

import (
	"fmt"
	"testing"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// testGateway is a running demo gateway with its guest and agent clients.
type testGateway struct {
	*servertest.Gateway
	guest *wiretest.HTTP // no token, deployment "demo"
	ann   *wiretest.HTTP // the agent ann
}

func newTestGateway(t testing.TB) *testGateway {
	t.Helper()
	gw := servertest.Start(t, servertest.Options{})
	return &testGateway{
		Gateway: gw,
		guest:   wiretest.NewHTTP(t, gw.URL).WithDeployment("demo"),
		ann:     wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken),
	}
}

// chat is one started chat.
type chat struct {
	ID      string
	Token   string
	visitor *wiretest.HTTP // the visitor's HTTP client
}

// mustStartChat starts a chat on "demo" as visitor nickname.
func (g *testGateway) mustStartChat(t testing.TB, nickname string) chat {
	t.Helper()
	var st struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	g.guest.Command("WebChatService.startChat", map[string]any{"nickname": nickname}).Into(t, &st)
	return chat{ID: st.ChatID, Token: st.Token, visitor: g.guest.WithToken(st.Token)}
}

// annOnline makes ann available for routing.
func (g *testGateway) annOnline(t testing.TB) {
	t.Helper()
	g.ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
}

// mustStartAssigned starts a chat with ann online and waits until routing
// gave it to her: the chat's seq 2 is her ParticipantJoined.
func (g *testGateway) mustStartAssigned(t testing.TB, nickname string) chat {
	t.Helper()
	g.annOnline(t)
	c := g.mustStartChat(t, nickname)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		var l struct {
			Chats []struct {
				ChatID string `json:"chatId"`
			} `json:"chats"`
		}
		g.ann.Command("AgentService.listChats", nil).Into(t, &l)
		for _, lc := range l.Chats {
			if lc.ChatID == c.ID {
				return true
			}
		}
		return false
	})
	return c
}

// annSays sends an agent message and returns its seq.
func (g *testGateway) annSays(t testing.TB, chatID, text string) uint64 {
	t.Helper()
	var r struct {
		Seq uint64 `json:"seq"`
	}
	g.ann.Command("AgentService.sendMessage", map[string]any{"chatId": chatID, "message": text}).Into(t, &r)
	return r.Seq
}

// visitorSays sends a visitor message over HTTP and returns its seq.
func visitorSays(t testing.TB, c chat, text string) uint64 {
	t.Helper()
	var r struct {
		Seq uint64 `json:"seq"`
	}
	c.visitor.Command("WebChatService.sendMessage", map[string]any{"message": text}).Into(t, &r)
	return r.Seq
}

// dialVisitor opens a socket as the chat's visitor, resuming after after.
func (g *testGateway) dialVisitor(t testing.TB, c chat, after uint64) *wiretest.Socket {
	t.Helper()
	s := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
	var welcome struct {
		Kind   string `json:"kind"`
		ChatID string `json:"chatId"`
	}
	wiretest.Decode(t, s.MustAuth(c.Token, after), &welcome)
	if welcome.Kind != "visitor" || welcome.ChatID != c.ID {
		t.Fatalf("socket welcome %+v, want kind visitor and chatId %s", welcome, c.ID)
	}
	return s
}

// textsOf returns the texts of the messageReceived events, by seq.
func textsOf(t testing.TB, evs []wiretest.Event) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for _, ev := range evs {
		if ev.Name != "WebChatService.messageReceived" {
			continue
		}
		for _, m := range ev.Messages(t) {
			if m.Index != ev.Seq {
				t.Errorf("%s carries message index %d", ev, m.Index)
			}
			if m.Type == "Message" {
				out[ev.Seq] = m.From.Type + ": " + m.Text
			}
		}
	}
	return out
}

// TestResume_Socket is the acceptance test of resuming: a visitor drops
// after seq N, the agent writes while it is away, and the visitor's next
// socket, resuming after N, receives every later event exactly once.
func TestResume_Socket(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita")

	v := g.dialVisitor(t, c, 0)
	first := v.UntilSeq(2, wiretest.Timeout)
	first = append(first, v.Until(wiretest.Timeout, func(ev wiretest.Event) bool {
		return ev.Name == "WebChatService.agentConnected"
	})...)
	wantFirst := []string{"WebChatService.started#1", "WebChatService.messageReceived#1", "WebChatService.clientConnected#1",
		"WebChatService.messageReceived#2", "WebChatService.agentConnected#2"}
	if got := fmt.Sprint(first); got != fmt.Sprint(wantFirst) {
		t.Fatalf("first events %s, want %s", got, wantFirst)
	}
	r := v.Command("WebChatService.sendMessage", map[string]any{"message": "is anyone there?"})
	var sent struct {
		Seq uint64 `json:"seq"`
	}
	r.Into(t, &sent)
	seen := append(first, v.UntilSeq(sent.Seq, wiretest.Timeout)...)
	n := sent.Seq
	wiretest.CheckSequence(t, seen, 1, n)

	v.Close()
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return g.Bus().Subscribers(bus.ChatTopic(c.ID)) == 0 })

	var m uint64
	for i := 1; i <= 5; i++ {
		m = g.annSays(t, c.ID, fmt.Sprintf("while you were away %d", i))
	}
	if m != n+5 {
		t.Fatalf("the agent's 5 messages end at seq %d, want %d", m, n+5)
	}

	v2 := g.dialVisitor(t, c, n)
	got := v2.UntilSeq(m, wiretest.Timeout)
	// A live message after the replay: nothing before it may come again.
	marker := g.annSays(t, c.ID, "welcome back")
	got = append(got, v2.UntilSeq(marker, wiretest.Timeout)...)
	wiretest.CheckSequence(t, got, n+1, marker)

	texts := textsOf(t, got)
	for i := uint64(1); i <= 5; i++ {
		if want := fmt.Sprintf("Agent: while you were away %d", i); texts[n+i] != want {
			t.Errorf("seq %d: %q, want %q", n+i, texts[n+i], want)
		}
	}
	if texts[marker] != "Agent: welcome back" {
		t.Errorf("seq %d: %q", marker, texts[marker])
	}
	if len(texts) != 6 {
		t.Errorf("messages after resuming: %v", texts)
	}
}

// TestResume_SocketFromZero replays the whole chat to a socket that has
// seen nothing, in order, each unit once.
func TestResume_SocketFromZero(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartAssigned(t, "Rita")
	var last uint64
	for i := range 250 { // more than one feed page
		last = visitorSays(t, c, fmt.Sprintf("m%d", i))
	}
	v := g.dialVisitor(t, c, 0)
	got := v.UntilSeq(last, wiretest.Timeout)
	wiretest.CheckSequence(t, got, 1, last)
	if texts := textsOf(t, got); len(texts) != 250 || texts[last] != "Client: m249" {
		t.Errorf("replayed %d messages, last %q", len(texts), texts[last])
	}
}

// TestTwoConnections: every connection of a chat sees every message, the
// visitor's own included, whichever connection sent it.
func TestTwoConnections(t *testing.T) {
	t.Run("SocketAndLongPoll", func(t *testing.T) {
		g := newTestGateway(t)
		c := g.mustStartAssigned(t, "Rita")
		s := g.dialVisitor(t, c, 2)

		var seqs []uint64
		seqs = append(seqs, visitorSays(t, c, "from http"))
		r := s.Command("WebChatService.sendMessage", map[string]any{"message": "from the socket"})
		var sent struct {
			Seq uint64 `json:"seq"`
		}
		r.Into(t, &sent)
		seqs = append(seqs, sent.Seq, g.annSays(t, c.ID, "from ann"))
		last := seqs[2]
		want := map[uint64]string{seqs[0]: "Client: from http", seqs[1]: "Client: from the socket", seqs[2]: "Agent: from ann"}

		onSocket := s.UntilSeq(last, wiretest.Timeout)
		wiretest.CheckSequence(t, onSocket, 3, last)
		if got := textsOf(t, onSocket); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("socket saw %v, want %v", got, want)
		}

		var polled []wiretest.Event
		after := uint64(2)
		for after < last {
			res := c.visitor.Poll(after, wiretest.Timeout)
			if len(res.Events) == 0 {
				t.Fatalf("long-poll after %d: nothing, want up to %d", after, last)
			}
			polled = append(polled, res.Events...)
			after = res.Events[len(res.Events)-1].Seq
		}
		wiretest.CheckSequence(t, polled, 3, last)
		if got := textsOf(t, polled); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("long-poll saw %v, want %v", got, want)
		}
	})

	t.Run("TwoSockets", func(t *testing.T) {
		g := newTestGateway(t)
		c := g.mustStartAssigned(t, "Rita")
		a := g.dialVisitor(t, c, 2)
		b := g.dialVisitor(t, c, 2)

		var seqs []uint64
		for i, s := range []*wiretest.Socket{a, b, a} {
			var sent struct {
				Seq uint64 `json:"seq"`
			}
			s.Command("WebChatService.sendMessage", map[string]any{"message": fmt.Sprintf("tab %d", i)}).Into(t, &sent)
			seqs = append(seqs, sent.Seq)
		}
		seqs = append(seqs, g.annSays(t, c.ID, "hello both"))
		last := seqs[3]
		want := map[uint64]string{seqs[0]: "Client: tab 0", seqs[1]: "Client: tab 1", seqs[2]: "Client: tab 2", seqs[3]: "Agent: hello both"}
		for name, s := range map[string]*wiretest.Socket{"a": a, "b": b} {
			got := s.UntilSeq(last, wiretest.Timeout)
			wiretest.CheckSequence(t, got, 3, last)
			if texts := textsOf(t, got); fmt.Sprint(texts) != fmt.Sprint(want) {
				t.Errorf("socket %s saw %v, want %v", name, texts, want)
			}
		}
	})
}
