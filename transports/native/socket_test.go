package native_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/transports/native"
)

// dialAgent opens ann's socket, resuming after after.
func (g *testGateway) dialAgent(t testing.TB, after uint64) *wiretest.Socket {
	t.Helper()
	s := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
	var welcome struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	}
	wiretest.Decode(t, s.MustAuth(g.AgentToken, after), &welcome)
	if welcome.Kind != "agent" || welcome.ID != "ann" {
		t.Fatalf("agent welcome %+v", welcome)
	}
	return s
}

// TestSocket_Agent runs a chat from the agent's side over a socket.
func TestSocket_Agent(t *testing.T) {
	g := newTestGateway(t)
	ann := g.dialAgent(t, 0)
	// A stream with no position to resume from starts with resync.
	resync := ann.Expect("AgentService.resync")
	if resync.Seq == 0 {
		t.Errorf("resync has seq 0")
	}

	var status struct {
		Status string `json:"status"`
	}
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Into(t, &status)
	if status.Status != "online" {
		t.Fatalf("setStatus: %+v", status)
	}

	var st struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	g.guest.Command("WebChatService.startChat", map[string]any{"nickname": "Rita", "email": "rita@example.com",
		"subject": "returns", "userData": map[string]any{"order": "A-1"}}).Into(t, &st)
	c := chat{ID: st.ChatID, Token: st.Token, visitor: g.guest.WithToken(st.Token)}

	// The chat is first pushed as waiting (chatQueued, chatDequeued), then assigned.
	pushed := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	assigned := pushed[len(pushed)-1]
	var a struct {
		ChatID     string `json:"chatId"`
		Deployment string `json:"deployment"`
		Queue      string `json:"queue"`
		Subject    string `json:"subject"`
		Visitor    struct {
			Nickname string `json:"nickname"`
			Email    string `json:"email"`
		} `json:"visitor"`
		UserData map[string]any `json:"userData"`
	}
	wiretest.Decode(t, assigned.Data, &a)
	if a.ChatID != c.ID || a.Deployment != "demo" || a.Queue != "support" || a.Subject != "returns" ||
		a.Visitor.Nickname != "Rita" || a.Visitor.Email != "rita@example.com" || a.UserData["order"] != "A-1" || a.UserData["source"] != "demo" {
		t.Errorf("chatAssigned: %s", assigned.Data)
	}
	for i, ev := range pushed { // positions follow the resync without a gap
		if ev.Seq != resync.Seq+uint64(i)+1 {
			t.Errorf("%s seq %d, want %d (after resync)", ev.Name, ev.Seq, resync.Seq+uint64(i)+1)
		}
	}
	joined := ann.Expect("AgentService.messageReceived")
	if joined.Seq != assigned.Seq {
		t.Errorf("the join's messageReceived has seq %d, want the assignment's %d", joined.Seq, assigned.Seq)
	}
	if m := joined.Messages(t); len(m) != 1 || m[0].Type != "ParticipantJoined" || m[0].From.Name != "Ann" {
		t.Errorf("join message: %s", joined.Data)
	}

	v := g.dialVisitor(t, c, 0)
	v.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "WebChatService.agentConnected" })

	// The agent replies.
	var sent struct {
		Seq uint64 `json:"seq"`
	}
	ann.Command("AgentService.sendMessage", map[string]any{"chatId": c.ID, "message": "Hi Rita, Ann here."}).Into(t, &sent)
	got := v.Expect("WebChatService.messageReceived")
	if m := got.Messages(t); got.Seq != sent.Seq || len(m) != 1 || m[0].Text != "Hi Rita, Ann here." || m[0].From.Type != "Agent" {
		t.Errorf("visitor got %s %s", got, got.Data)
	}
	own := ann.Expect("AgentService.messageReceived")
	if m := own.Messages(t); len(m) != 1 || m[0].Text != "Hi Rita, Ann here." {
		t.Errorf("agent's own message: %s", own.Data)
	}

	// Visitor typing reaches the agent, seq 0; the visitor does not hear itself.
	v.Command("WebChatService.sendTyping", map[string]any{"isTyping": true}).Resolved(t)
	typing := ann.Expect("AgentService.visitorTyping")
	var vt struct {
		ChatID   string `json:"chatId"`
		IsTyping bool   `json:"isTyping"`
	}
	wiretest.Decode(t, typing.Data, &vt)
	if typing.Seq != 0 || vt.ChatID != c.ID || !vt.IsTyping {
		t.Errorf("visitorTyping: %s %s", typing, typing.Data)
	}

	// Agent typing reaches the visitor, seq 0.
	ann.Command("AgentService.sendTyping", map[string]any{"chatId": c.ID, "isTyping": true}).Resolved(t)
	at := v.Expect("WebChatService.agentTypingStarted")
	var atm wiretest.Message
	wiretest.Decode(t, at.Data, &atm)
	if at.Seq != 0 || atm.Type != "TypingStarted" || atm.From.Name != "Ann" || atm.From.Type != "Agent" {
		t.Errorf("agentTypingStarted: %s %s", at, at.Data)
	}
	ann.Command("AgentService.sendTyping", map[string]any{"chatId": c.ID, "isTyping": false}).Resolved(t)
	if stop := v.Expect("WebChatService.agentTypingStopped"); stop.Seq != 0 {
		t.Errorf("agentTypingStopped: %s", stop)
	}

	// The agent ends the chat.
	ann.Command("AgentService.endChat", map[string]any{"chatId": c.ID}).Resolved(t)
	tail := v.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "WebChatService.ended" })
	names := fmt.Sprint(tail)
	want := fmt.Sprintf("[WebChatService.messageReceived#%d WebChatService.agentDisconnected#%d WebChatService.ended#%d]",
		sent.Seq+1, sent.Seq+1, sent.Seq+2)
	if names != want {
		t.Errorf("visitor's last events %s, want %s", names, want)
	}
	var ended struct {
		ChatID string `json:"chatId"`
		By     string `json:"by"`
	}
	wiretest.Decode(t, tail[len(tail)-1].Data, &ended)
	if ended.ChatID != c.ID || ended.By != "agent" {
		t.Errorf("ended: %s", tail[len(tail)-1].Data)
	}
	var disc struct {
		NumAgentsConnected int `json:"numAgentsConnected"`
	}
	wiretest.Decode(t, tail[1].Data, &disc)
	if disc.NumAgentsConnected != 0 {
		t.Errorf("agentDisconnected: %s", tail[1].Data)
	}
	agentTail := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatEnded" })
	if last := agentTail[len(agentTail)-1]; !strings.Contains(string(last.Data), `"by":"agent"`) {
		t.Errorf("chatEnded: %s", last.Data)
	}

	// The agent's stream resumes by its own positions.
	ann.Close()
	ann2 := g.dialAgent(t, own.Seq)
	replay := ann2.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatEnded" })
	for i, ev := range replay {
		if ev.Seq != own.Seq+1+uint64(i) {
			t.Errorf("agent replay after %d: %v", own.Seq, replay)
			break
		}
	}
}

// TestSocket_Protocol covers the frames and close codes of docs/wire.md.
func TestSocket_Protocol(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartChat(t, "Rita")

	t.Run("FirstFrameNotAuth", func(t *testing.T) {
		s := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
		s.MustWrite([]byte(`{"id":1,"command":"WebChatService.getAgents"}`))
		r := s.Reply(json.RawMessage("1"), wiretest.Timeout)
		if e := r.Rejected(t); e.Code != "invalid_request" {
			t.Errorf("command before auth: %s", r.Body)
		}
		if code, _ := s.WaitClose(wiretest.Timeout); code != native.CloseAuthFailed {
			t.Errorf("close code %d, want %d", code, native.CloseAuthFailed)
		}
	})

	t.Run("NotJSON", func(t *testing.T) {
		s := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
		s.MustWrite([]byte(`hello`))
		if r := s.Reply(json.RawMessage("0"), wiretest.Timeout); r.Rejected(t).Code != "invalid_request" {
			t.Errorf("garbage before auth: %s", r.Body)
		}
		if code, _ := s.WaitClose(wiretest.Timeout); code != native.CloseAuthFailed {
			t.Errorf("close code %d, want %d", code, native.CloseAuthFailed)
		}
	})

	for name, token := range map[string]string{"BadToken": "not-a-token", "EmptyToken": "", "AdminToken": g.AdminToken} {
		t.Run(name, func(t *testing.T) {
			s := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
			r := s.Auth(token, 0)
			e := r.Rejected(t)
			if string(r.ID) != "0" || e.Code == "" {
				t.Errorf("auth with %q: %s", token, r.Body)
			}
			if code, _ := s.WaitClose(wiretest.Timeout); code != native.CloseAuthFailed {
				t.Errorf("close code %d, want %d", code, native.CloseAuthFailed)
			}
		})
	}

	t.Run("Commands", func(t *testing.T) {
		s := g.dialVisitor(t, c, 1)
		// Replies carry the command's id, number or string, also when rejected,
		// and pipelined commands are answered in order.
		s.MustWrite([]byte(`{"id":7,"command":"WebChatService.verifySession"}`))
		s.MustWrite([]byte(`{"id":"x-1","command":"WebChatService.sendMessage","options":{"message":""}}`))
		s.MustWrite([]byte(`{"id":9,"command":"WebChatService.sendMessage","options":{"message":"hi"}}`))
		if r := s.Reply(json.RawMessage("7"), wiretest.Timeout); string(r.Resolved(t)) != `{"sessionActive":true}` {
			t.Errorf("reply 7: %s", r.Body)
		}
		if r := s.Reply(json.RawMessage(`"x-1"`), wiretest.Timeout); r.Rejected(t).Code != "no_message" {
			t.Errorf("reply x-1: %s", r.Body)
		}
		var sent struct {
			Seq uint64 `json:"seq"`
		}
		s.Reply(json.RawMessage("9"), wiretest.Timeout).Into(t, &sent)
		if ev := s.Expect("WebChatService.messageReceived"); ev.Seq != sent.Seq {
			t.Errorf("own message came as %s, want seq %d", ev, sent.Seq)
		}

		// A bad frame is answered and the socket stays open.
		s.MustWrite([]byte(`{"id":10,"command":5}`))
		if r := s.Reply(json.RawMessage("10"), wiretest.Timeout); r.Rejected(t).Code != "invalid_request" {
			t.Errorf("bad frame: %s", r.Body)
		}
		if r := s.Command("WebChatService.unknownThing", nil); r.Rejected(t).Code != "unknown_command" {
			t.Errorf("unknown command: %s", r.Body)
		}
		if r := s.Auth(c.Token, 0); r.Rejected(t).Code != "invalid_request" {
			t.Errorf("second auth: %s", r.Body)
		}

		if p := s.Ping(5); string(p) != "5" {
			t.Errorf(`{"ping":5} answered pong %s`, p)
		}
		if p := s.Ping("abc"); string(p) != `"abc"` {
			t.Errorf(`{"ping":"abc"} answered pong %s`, p)
		}
		if s.Closed() {
			t.Errorf("socket closed: %v", s.Err())
		}
	})

	t.Run("FrameTooLarge", func(t *testing.T) {
		s := g.dialVisitor(t, c, 1)
		limit := g.Config().Limits.BodyBytes
		big := fmt.Sprintf(`{"id":1,"command":"WebChatService.sendMessage","options":{"message":"%s"}}`, strings.Repeat("a", limit))
		if err := s.Write([]byte(big)); err != nil {
			t.Fatalf("write: %v", err)
		}
		if code, _ := s.WaitClose(wiretest.Timeout); code != native.CloseTooLarge {
			t.Errorf("close code %d after a %d-byte frame, want %d", code, len(big), native.CloseTooLarge)
		}
	})

	t.Run("FrameTooLargeBeforeAuth", func(t *testing.T) {
		s := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
		big := fmt.Sprintf(`{"id":0,"auth":{"token":"%s"}}`, strings.Repeat("a", g.Config().Limits.BodyBytes))
		if err := s.Write([]byte(big)); err != nil {
			t.Fatalf("write: %v", err)
		}
		if code, _ := s.WaitClose(wiretest.Timeout); code != native.CloseTooLarge {
			t.Errorf("close code %d, want %d", code, native.CloseTooLarge)
		}
	})

	t.Run("FrameAtLimit", func(t *testing.T) {
		s := g.dialVisitor(t, c, 1)
		limit := g.Config().Limits.BodyBytes
		frame := `{"id":3,"command":"WebChatService.verifySession"}`
		frame += strings.Repeat(" ", limit-len(frame))
		s.MustWrite([]byte(frame))
		if r := s.Reply(json.RawMessage("3"), wiretest.Timeout); string(r.Resolved(t)) != `{"sessionActive":true}` {
			t.Errorf("frame of exactly %d bytes: %s", limit, r.Body)
		}
	})
}

// TestSocket_Shutdown: the gateway's Shutdown closes open sockets with 1001
// and returns promptly.
func TestSocket_Shutdown(t *testing.T) {
	g := newTestGateway(t)
	c := g.mustStartChat(t, "Rita")
	visitor := g.dialVisitor(t, c, 0)
	ann := g.dialAgent(t, 0)
	ann.Expect("AgentService.resync")
	unauthed := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{})
	// A client that reads nothing never answers the close: the server must
	// not wait for it.
	deaf := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{Manual: true})
	deaf.Auth(c.Token, 0).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return g.Sockets() == 3 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := g.Gateway.Gateway().Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v with open sockets", d)
	}
	for name, s := range map[string]*wiretest.Socket{"visitor": visitor, "agent": ann, "deaf": deaf} {
		if code, _ := s.WaitClose(wiretest.Timeout); code != 1001 {
			t.Errorf("%s socket: close code %d, want 1001", name, code)
		}
	}
	// A socket that had not authenticated yet is closed too.
	if code, text := unauthed.WaitClose(wiretest.Timeout); code != 1001 {
		t.Errorf("unauthenticated socket at shutdown: close %d %q, want 1001", code, text)
	}
	if n := g.Sockets(); n != 0 {
		t.Errorf("%d sockets still tracked after shutdown", n)
	}
}

// TestSocket_SlowConsumer: a visitor socket that reads nothing while the
// agent floods its chat delays no other chat, is closed, and resumes from
// its last seq without a gap.
func TestSocket_SlowConsumer(t *testing.T) {
	g := newTestGateway(t)
	slow := g.mustStartAssigned(t, "Slow")
	other := g.mustStartAssigned(t, "Other")

	// The slow visitor reads nothing, into a small kernel buffer, so the
	// server's writes to it block once its own send buffer is full.
	sv := wiretest.Dial(t, g.WSURL, wiretest.DialOptions{Manual: true, ReadBuffer: 8 << 10})
	sv.Auth(slow.Token, 0).Resolved(t)
	ov := g.dialVisitor(t, other, 2)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool { return g.Bus().Subscribers(bus.ChatTopic(slow.ID)) == 1 })

	// The agent floods the slow chat with many commands at once. They go
	// straight to the bus, as a bot's would: the wire under test is the
	// visitor's, and HTTP here would only slow the flood down.
	const flood, workers = 2000, 64
	annCaller := bus.Caller{Kind: bus.KindAgent, ID: "ann"}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > flood {
					return
				}
				opts := fmt.Appendf(nil, `{"chatId":%q,"message":"flood %04d %s"}`, slow.ID, i, strings.Repeat("x", 100))
				if _, err := g.Bus().Command(t.Context(), annCaller, "AgentService.sendMessage", opts); err != nil {
					errs <- fmt.Errorf("flood message %d: %w", i, err)
					return
				}
				done.Add(1)
			}
		})
	}
	floodDone := make(chan struct{})
	go func() { wg.Wait(); close(floodDone) }()

	// Mid-flood, the other chat's visitor gets its message promptly.
	wiretest.WaitFor(t, 10*time.Second, func() bool { return done.Load() >= flood/4 })
	sentAt := time.Now()
	seq := g.annSays(t, other.ID, "you are next")
	ev := ov.Expect("WebChatService.messageReceived")
	if d := time.Since(sentAt); d > 2*time.Second {
		t.Errorf("the other chat's message took %v during the flood", d)
	}
	if ev.Seq != seq {
		t.Errorf("other chat got %s, want seq %d", ev, seq)
	}

	select {
	case <-floodDone:
	case <-time.After(20 * time.Second):
		t.Fatalf("flood did not finish: %d of %d sent", done.Load(), flood)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final := uint64(2 + flood)

	// The bus dropped the silent socket's subscription rather than wait.
	if n := g.Bus().Subscribers(bus.ChatTopic(slow.ID)); n != 0 {
		t.Fatalf("the silent socket still has %d subscription(s) after %d messages", n, flood)
	}
	// Only now does the client read: what was sent before the close, then
	// the close itself.
	code, text := sv.WaitClose(10 * time.Second)
	if code != native.CloseSlowConsumer && code != 1006 {
		t.Errorf("slow socket closed with %d %q, want %d (or a write error)", code, text, native.CloseSlowConsumer)
	}
	before := sv.Drain()
	var last uint64
	for _, ev := range before {
		last = max(last, ev.Seq)
	}
	if last >= final {
		t.Logf("the slow socket received everything (%d events) before it was closed", len(before))
	}

	// Resuming from its last seq yields the rest, no gap, no duplicate.
	sv2 := g.dialVisitor(t, slow, last)
	var after []wiretest.Event
	if last < final {
		after = sv2.UntilSeq(final, 10*time.Second)
	}
	all := append(before, after...)
	wiretest.CheckSequence(t, all, 1, final)
	if texts := textsOf(t, all); len(texts) != flood {
		t.Errorf("%d flood messages in all, want %d", len(texts), flood)
	}
	t.Logf("slow socket: %d events before close %d, %d after resuming from %d", len(before), code, len(after), last)
}

// TestSocket_AgentResumesFromAnotherStream: a position beyond this
// process's stream (another node's, whose positions start higher) gets the
// resync at this stream's lower position, and the events after it.
func TestSocket_AgentResumesFromAnotherStream(t *testing.T) {
	g := newTestGateway(t)
	first := g.dialAgent(t, 0)
	head := first.Expect("AgentService.resync").Seq
	first.Close()
	ann := g.dialAgent(t, head+1<<40) // far ahead: a position this process never gave out
	resync := ann.Expect("AgentService.resync")
	if resync.Seq != head {
		t.Fatalf("resync at %d, want this stream's head %d", resync.Seq, head)
	}
	ann.Command("AgentService.setStatus", map[string]any{"status": "online"}).Resolved(t)
	g.guest.Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Resolved(t)
	pushed := ann.Until(wiretest.Timeout, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	if pushed[0].Seq != head+1 {
		t.Errorf("first event after the resync at %d, want %d", pushed[0].Seq, head+1)
	}
}
