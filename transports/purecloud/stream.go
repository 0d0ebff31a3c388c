package purecloud

import (
	"context"
	"errors"
	"io"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/httpauth"
)

// CloseSlowConsumer closes a stream whose subscription fell behind; the
// client reconnects and reads what it missed with GET .../messages?after=.
const CloseSlowConsumer = 4409

// CloseTooManySockets closes a stream of a chat that has
// limits.socketsPerChat sockets open already, as the native socket does.
const CloseTooManySockets = 4429

// websocket.Conn reads locals by string key only.
const (
	localChat     = "cxgate.purecloud.chat"
	localCustomer = "cxgate.purecloud.customer"
	localCaller   = "cxgate.purecloud.caller"
)

func nowMilli() int64 { return time.Now().UnixMilli() }

// requireStream authenticates the stream's upgrade request, with the jwt of
// eventStreamUri's query or an Authorization header, before the upgrade, so
// a refusal is an HTTP error in Genesys' shape.
func (t *Transport) requireStream(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	select {
	case <-t.quit:
		return bus.ErrUnavailable
	default:
	}
	token := httpauth.Bearer(c)
	if token == "" {
		token = c.Query("jwt")
	}
	ctx, cancel := t.timeout(c)
	defer cancel()
	caller, err := t.visitor(ctx, token, c.Params("conversationId"), httpauth.PageOrigin(c, t.cfg.PublicURL), c.IP())
	if err != nil {
		return err
	}
	s, err := t.sessionOf(ctx, caller)
	if err != nil {
		return err
	}
	c.Locals(localChat, s.ChatID)
	c.Locals(localCustomer, s.ParticipantID)
	c.Locals(localCaller, caller)
	return c.Next()
}

func (t *Transport) streamHandler() fiber.Handler {
	return websocket.New(t.serveStream, websocket.Config{
		Origins:         []string{"*"}, // checked per deployment in requireStream
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
	})
}

// serveStream is the handler goroutine of one event stream and its only
// reader; the client sends nothing, so it reads only to see control frames
// and the end. One writer goroutine is the only writer. The handler returns
// only after the writer has ended: the pooled conn dies with it.
func (t *Transport) serveStream(conn *websocket.Conn) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		closeWith(conn, fws.CloseGoingAway, "server shutting down")
		return
	}
	t.streams.Add(1)
	t.mu.Unlock()
	defer t.streams.Done()

	chatID, _ := conn.Locals(localChat).(string)
	customer, _ := conn.Locals(localCustomer).(string)
	release, ok := t.cfg.ChatSockets.Acquire(chatID)
	if !ok {
		closeWith(conn, CloseTooManySockets, "too_many_sockets: this chat has as many sockets open as it may")
		return
	}
	defer release()
	// Subscribed before the first frame: a client that saw the first
	// heartbeat misses no event after it.
	sub := t.bus.Subscribe(bus.SubscribeOptions{Pattern: contract.Service + ".*", Topic: bus.ChatTopic(chatID), Buffer: t.cfg.StreamQueue})
	// Only now may the chat be routed: the agent's join, which the widget
	// needs to know the agent, comes after the subscription.
	if caller, ok := conn.Locals(localCaller).(bus.Caller); ok {
		t.attached(caller)
	}
	readerDone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		t.write(conn, sub, chatID, customer, readerDone)
	}()
	t.read(conn)
	close(readerDone)
	sub.Close()
	<-writerDone
}

// read discards what the client sends until the connection ends. A client
// silent for two heartbeats (no pong to the writer's pings) is gone.
func (t *Transport) read(conn *websocket.Conn) {
	alive := 2*t.cfg.Heartbeat + 5*time.Second
	conn.SetReadLimit(4096)
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(alive)) })
	for {
		_ = conn.SetReadDeadline(time.Now().Add(alive))
		_, r, err := conn.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

// write is the stream's writer: a heartbeat at once and every heartbeat
// interval, and the frames of the chat's events as they come. When it stops
// it ends the reader's read.
func (t *Transport) write(conn *websocket.Conn, sub *bus.Subscription, chatID, customer string, readerDone <-chan struct{}) {
	defer func() { _ = conn.SetReadDeadline(time.Now()) }()
	send := func(data []byte) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteMessage(fws.TextMessage, data) == nil
	}
	if !send(heartbeat) {
		return
	}
	tick := time.NewTicker(t.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-readerDone:
			return
		case <-t.quit:
			closeWith(conn, fws.CloseGoingAway, "server shutting down")
			return
		case <-tick.C:
			if !send(heartbeat) {
				return
			}
			_ = conn.WriteControl(fws.PingMessage, nil, time.Now().Add(time.Second))
		case ev, ok := <-sub.Events():
			if !ok {
				if errors.Is(sub.Err(), bus.ErrSlowSubscriber) {
					closeWith(conn, CloseSlowConsumer, "slow consumer: read missed messages with ?after=")
				} else {
					closeWith(conn, fws.CloseGoingAway, "closing")
				}
				return
			}
			for _, f := range framesOf(ev, chatID, customer) {
				if !send(f) {
					return
				}
			}
		}
	}
}

func closeWith(conn *websocket.Conn, code int, text string) {
	_ = conn.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

// attached tells WebChatService that the chat's stream is attached, which
// routes a chat created over this wire. A failure leaves it to the chat's
// attach wait.
func (t *Transport) attached(caller bus.Caller) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.CommandTimeout)
	defer cancel()
	_ = t.command(ctx, caller, contract.StreamAttached, nil)
}
