package native_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestConnectionChurn opens and closes thousands of authenticated sockets and
// long-polls against one gateway and checks that goroutines and heap come
// back to their baseline: nothing a connection owned outlives it.
// CXGATE_CHURN sets the number of connections (default 2,000; make bench
// runs 20,000).
func TestConnectionChurn(t *testing.T) {
	n := 2000
	if s := os.Getenv("CXGATE_CHURN"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			t.Fatal(err)
		}
	}
	// One chat's sockets come and go faster than the server sees them
	// closed: limits.socketsPerChat is not what is measured here.
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken, cfg.Limits.SocketsPerChat = -1, -1, 1<<20
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ Token string }
	guest.Command("WebChatService.startChat", nil).Into(t, &st)
	v := guest.WithToken(st.Token)

	// Only the gateway's own goroutines are counted: fasthttp keeps idle
	// workers for up to twice its 10 s idle duration, and waiting for them
	// measured the library, not us, while eating the whole time budget.
	settle := func() (int, uint64) {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return gatewayGoroutines(), m.HeapInuse
	}
	// A bare client: the test helpers' sockets keep large buffers until the
	// test ends, and this test measures the server's memory, not theirs.
	connect := func() error {
		conn, _, err := websocket.DefaultDialer.Dial(gw.WSURL, nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"id":0,"auth":{"token":"`+st.Token+`","after":0}}`)); err != nil {
			return err
		}
		_, reply, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		if !strings.Contains(string(reply), `"resolved"`) {
			return fmt.Errorf("auth: %s", reply)
		}
		return nil
	}
	// Warm up: pools, buffers and the HTTP client's connections exist
	// before the baseline is taken.
	for range 20 {
		if err := connect(); err != nil {
			t.Fatal(err)
		}
		v.Poll(0, 0)
	}
	wiretest.WaitFor(t, 10*time.Second, func() bool { return gw.Sockets() == 0 })
	baseG, baseHeap := settle()

	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if i%4 == 3 {
				v.Poll(0, 0)
				return
			}
			if err := connect(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	var g int
	var heap uint64
	wiretest.WaitFor(t, 20*time.Second, func() bool {
		g, heap = settle()
		return gw.Sockets() == 0 && g <= baseG+2
	})
	t.Logf("%d connections: goroutines %d → %d, heap in use %d KiB → %d KiB", n, baseG, g, baseHeap>>10, heap>>10)
	if heap > baseHeap+8<<20 {
		t.Fatalf("heap grew by %d KiB over %d connections", (heap-baseHeap)>>10, n)
	}
}

// gatewayGoroutines counts the goroutines running the module's code on the
// server side: those with a frame in the module, less the test's own and
// its clients'.
func gatewayGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/cxgate/cxgate/") &&
			!strings.Contains(g, "_test.go") && !strings.Contains(g, "/internal/wiretest.") {
			count++
		}
	}
	return count
}
