package gateway

import (
	"net"
	"sync"
	"time"
)

// connLimitListener bounds the connections one peer address holds open: an
// accepted connection over the bound is answered 429 and closed before
// anything of it is read. fasthttp's own MaxConnsPerIP is not used: its
// pooled connection wrapper panics when a connection is closed twice (by the
// server's shutdown and its worker), and it counts IPv4 peers only.
type connLimitListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	count map[string]int
}

func limitConnsPerIP(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &connLimitListener{Listener: ln, max: max, count: map[string]int{}}
}

// tooManyConns is the whole answer to a connection over the bound.
const (
	tooManyConnsBody = `{"status":"rejected","error":{"code":"rate_limited","message":"Too many connections from this address."}}`
	tooManyConns     = "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: 105\r\n\r\n" + tooManyConnsBody
)

var _ = [1]struct{}{}[len(tooManyConnsBody)-105] // the Content-Length above

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerIP(c)
		l.mu.Lock()
		n := l.count[ip]
		if n >= l.max {
			l.mu.Unlock()
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte(tooManyConns))
			_ = c.Close()
			continue
		}
		l.count[ip] = n + 1
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *connLimitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count[ip]--; l.count[ip] <= 0 {
		delete(l.count, ip)
	}
}

func peerIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	return host
}

// countedConn gives its slot back on its first Close; later Closes only
// close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
