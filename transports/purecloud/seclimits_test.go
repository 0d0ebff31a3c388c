package purecloud_test

import (
	"errors"
	"testing"

	fws "github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/transports/purecloud"
)

// TestStreamsPerChat: past limits.socketsPerChat a conversation's next event
// stream is closed with 4429 before its first frame.
func TestStreamsPerChat(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken, cfg.Limits.SocketsPerChat = -1, -1, 2
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	g := create(t, gw, "Rita")
	dialStream(t, g.Stream)
	dialStream(t, g.Stream)

	d := fws.Dialer{HandshakeTimeout: wiretest.Timeout}
	conn, _, err := d.Dial(g.Stream, nil)
	if err != nil {
		t.Fatalf("dial the third stream: %v", err)
	}
	defer conn.Close()
	_, data, err := conn.ReadMessage()
	var ce *fws.CloseError
	if !errors.As(err, &ce) || ce.Code != purecloud.CloseTooManySockets {
		t.Fatalf("third stream of a conversation at socketsPerChat 2: frame %s, err %v; want close %d",
			data, err, purecloud.CloseTooManySockets)
	}
}
