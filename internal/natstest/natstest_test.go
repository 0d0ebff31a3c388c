package natstest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cxgate/cxgate/internal/natstest"
)

// roundTrip publishes on a subject and waits for the message on a
// subscription of the same connection.
func roundTrip(t *testing.T, nc *nats.Conn, subject, text string) {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	defer sub.Unsubscribe()
	if err := nc.Publish(subject, []byte(text)); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("receive on %s: %v", subject, err)
	}
	if string(msg.Data) != text {
		t.Fatalf("received %q on %s, published %q", msg.Data, subject, text)
	}
}

// TestRoundTrip: a client connects to the URL Start returns and gets back
// what it publishes.
func TestRoundTrip(t *testing.T) {
	nc, err := nats.Connect(natstest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	roundTrip(t, nc, "cxgate.test", "hello")
}

// TestRestart: a client of a server that goes away is told it is
// disconnected, reconnects on its own once the server is back on the same
// port, and its subscriptions work again.
func TestRestart(t *testing.T) {
	s := natstest.New(t)
	disconnected := make(chan struct{}, 1)
	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(s.URL(),
		nats.ReconnectWait(50*time.Millisecond),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	roundTrip(t, nc, "before", "one")
	port := s.Port()

	s.Shutdown()
	if s.Running() {
		t.Fatal("Running after Shutdown")
	}
	select {
	case <-disconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("the client was not told the server went away")
	}
	if _, err := nats.Connect(s.URL(), nats.Timeout(time.Second)); err == nil {
		t.Fatal("a new client connected to a server that is shut down")
	}

	s.Restart()
	if s.Port() != port || !s.Running() {
		t.Fatalf("restarted on port %d (running %v), was %d", s.Port(), s.Running(), port)
	}
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not reconnect to the restarted server")
	}
	roundTrip(t, nc, "after", "two")
	s.Shutdown()
	s.Shutdown() // twice is harmless, and so is the cleanup's
}
