package purecloud

import (
	"context"
	"sync"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/httpauth"
	"github.com/cxgate/cxgate/transports/internal/wssession"
)

// CloseSlowConsumer closes a stream whose subscription fell behind; the
// client reconnects and reads what it missed with GET .../messages?after=.
const CloseSlowConsumer = wssession.CloseSlowConsumer // 4409

// CloseTooManySockets closes a stream of a chat that has
// limits.socketsPerChat sockets open already, as the native socket does.
const CloseTooManySockets = wssession.CloseTooManySockets // 4429

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
	if t.hub.Closing() {
		return bus.ErrUnavailable
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
		// Idle streams hold no write buffer: it is taken from the pool for
		// each frame, as on the native socket.
		WriteBufferPool: &sync.Pool{},
	})
}

// serveStream is the handler goroutine of one event stream and its only
// reader; the client sends nothing, so it reads only to see control frames
// and the end. The session's writer is the only writer; the handler returns
// only after it has ended: the pooled conn dies with the handler.
func (t *Transport) serveStream(conn *websocket.Conn) {
	ws := t.hub.Enter(conn.Conn)
	if ws == nil {
		wssession.CloseConn(conn.Conn, fws.CloseGoingAway, "server shutting down")
		return
	}
	defer ws.Leave()
	ws.Authed() // authenticated before the upgrade

	chatID, _ := conn.Locals(localChat).(string)
	customer, _ := conn.Locals(localCustomer).(string)
	release, ok := t.cfg.ChatSockets.Acquire(chatID)
	if !ok {
		ws.CloseWith(CloseTooManySockets, "too_many_sockets: this chat has as many sockets open as it may")
		return
	}
	defer release()
	// Subscribed before the first frame: a client that saw the first
	// heartbeat misses no event after it. Until Begin, events only mark the
	// session dirty.
	ws.Register()
	sub := t.bus.Subscribe(bus.SubscribeOptions{Pattern: contract.Service + ".*", Topic: bus.ChatTopic(chatID),
		Buffer: t.cfg.StreamQueue, Notify: ws.Kick})
	// Only now may the chat be routed: the agent's join, which the widget
	// needs to know the agent, comes after the subscription. Routing runs on
	// a goroutine that ends with it: its deep calls grow that goroutine's
	// stack, not the reader's, which an idle stream keeps for its life.
	if caller, ok := conn.Locals(localCaller).(bus.Caller); ok {
		done := make(chan struct{})
		go func() {
			defer close(done)
			t.attached(caller)
		}()
		<-done
	}
	ws.Begin(sub, &stream{chatID: chatID, customer: customer})
	ws.Discard(4096)
	ws.End()
}

// stream writes one event stream's frames on its session's writer: a
// heartbeat first (the hub queues one at every heartbeat after), then the
// frames of the chat's events as they come.
type stream struct{ chatID, customer string }

func (st *stream) Start(w *wssession.Writer) bool { return w.Write(heartbeat) == nil }

func (st *stream) Event(w *wssession.Writer, ev bus.Event) bool {
	for _, f := range framesOf(ev, st.chatID, st.customer) {
		if w.Write(f) != nil {
			return false
		}
	}
	return true
}

// attached tells WebChatService that the chat's stream is attached, which
// routes a chat created over this wire. A failure leaves it to the chat's
// attach wait.
func (t *Transport) attached(caller bus.Caller) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.CommandTimeout)
	defer cancel()
	_ = t.command(ctx, caller, contract.StreamAttached, nil)
}
