package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fastjson"
)

// dialer is every socket's dialer: small buffers, as a browser-like client
// that sends small frames.
var dialer = &websocket.Dialer{
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   2048,
	WriteBufferSize:  2048,
	NetDial: func(network, addr string) (net.Conn, error) {
		return net.DialTimeout(network, addr, 10*time.Second)
	},
}

// wsConn is one native-wire socket: one writer at a time, one reader loop.
type wsConn struct {
	c       *websocket.Conn
	wmu     sync.Mutex
	closing atomic.Bool
}

// dialWS opens a socket and authenticates with token, resuming after seq.
func dialWS(url, token string, after uint64) (*wsConn, error) {
	c, _, err := dialer.Dial(url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	tok, _ := json.Marshal(token)
	auth := fmt.Appendf(nil, `{"id":0,"auth":{"token":%s,"after":%d}}`, tok, after)
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, auth); err != nil {
		c.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("auth reply: %w", err)
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(data)
	if err != nil || string(v.GetStringBytes("status")) != "resolved" {
		c.Close()
		return nil, fmt.Errorf("auth rejected: %.200s", data)
	}
	_ = c.SetReadDeadline(time.Time{})
	return &wsConn{c: c}, nil
}

// write sends one text frame.
func (w *wsConn) write(b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return w.c.WriteMessage(websocket.TextMessage, b)
}

// close closes the socket with 1000; the reader then ends without an error.
func (w *wsConn) close() {
	if w.closing.Swap(true) {
		return
	}
	w.wmu.Lock()
	_ = w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	w.wmu.Unlock()
	_ = w.c.Close()
}

// errDropped is a socket the server ended while the client still used it.
var errDropped = errors.New("socket dropped")

// readLoop hands every frame to handle until the socket ends. It returns nil
// when the client closed it, else why it ended (errDropped wrapped with the
// close code when there is one).
func (w *wsConn) readLoop(handle func(v *fastjson.Value)) error {
	var p fastjson.Parser
	for {
		_, data, err := w.c.ReadMessage()
		if err != nil {
			if w.closing.Load() {
				return nil
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return fmt.Errorf("%w: close %d %s", errDropped, ce.Code, ce.Text)
			}
			return fmt.Errorf("%w: %v", errDropped, err)
		}
		v, err := p.ParseBytes(data)
		if err != nil {
			return fmt.Errorf("frame is not JSON: %.200q", data)
		}
		handle(v)
	}
}
