package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cxgate/cxgate/internal/natstest"
	"github.com/cxgate/cxgate/internal/pgtest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestConsoleMovesNodes: the agent console behind a load balancer whose
// node goes away. Ann works through node 1; the balancer moves her to node
// 2 (node 1's connections drop); the console reconnects there, its stream
// position from node 1 answered with a resync, reloads, and shows what the
// visitor (on node 2 all along) wrote meanwhile and after, and her replies
// reach him.
func TestConsoleMovesNodes(t *testing.T) {
	url := pgtest.New(t).Database(t)
	nats := natstest.Start(t)
	var gws []*servertest.Gateway
	for i := range 2 {
		cfg := consoleConfig()
		cfg.Store.Postgres, cfg.Cluster.NATS, cfg.Cluster.Node = url, nats, fmt.Sprintf("n%d", i+1)
		gws = append(gws, servertest.Start(t, servertest.Options{Config: cfg}))
	}
	balancer := newCutProxy(t, gws[0].Addr)
	bob := dialAgentAs(t, gws[1], "bob-secret-token", "online")
	ctx := newBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))

	navigate(t, ctx, balancer.URL+"/agent/")
	do(t, ctx, sendKeys("#token", "ann-secret\r"))
	waitDOM(t, ctx, "#who", "Ann (ann)")
	waitDOM(t, ctx, "#conn", "connected")
	eval[bool](t, ctx, `(function () { var s = document.getElementById('status'); s.value = 'online'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitFor(t, "ann online on node 2", func() bool { return agentStatus(bob, "ann") == "online" })

	// The visitor is on node 2; routing (whichever node leads) gives the
	// chat to Ann, connected to node 1.
	vera := startVisitor(t, gws[1], "demo", map[string]any{"nickname": "Vera", "subject": "Refund"})
	vera.say("Hello from node 2")
	waitDOM(t, ctx, chatItem(vera.chatID), "Vera")
	do(t, ctx, chromedp.Click(chromedp.CSS(chatItem(vera.chatID)+" button")))
	waitDOM(t, ctx, "#transcript", "Hello from node 2")
	do(t, ctx, sendKeys("#text", "Hi Vera, Ann on node 1"))
	do(t, ctx, enter)
	vera.awaitText("Hi Vera, Ann on node 1", "Agent")
	waitJS(t, ctx, `document.getElementById('text').value === ''`, "the reply box cleared by the answer")

	// Node 1 is taken out of the balancer: the console's socket drops, and
	// what Vera writes meanwhile is on node 2 only.
	balancer.moveTo(gws[1].Addr)
	waitDOM(t, ctx, "#conn", "reconnecting")
	vera.say("Written while you moved")
	waitDOM(t, ctx, "#conn", "connected")
	waitDOM(t, ctx, "#transcript", "Written while you moved")
	vera.say("And after")
	waitDOM(t, ctx, "#transcript", "And after")
	do(t, ctx, sendKeys("#text", "Still here, now on node 2"))
	do(t, ctx, enter)
	vera.awaitText("Still here, now on node 2", "Agent")
	if n := eval[int](t, ctx, `Array.from(document.querySelectorAll('#transcript li')).filter(function (li) { return li.textContent.includes('Written while you moved'); }).length`); n != 1 {
		t.Errorf("the message written during the move shows %d times, want once", n)
	}
	screenshot(t, ctx, "console-cluster-moved")
	do(t, ctx, chromedp.EmulateViewport(390, 844))
	screenshot(t, ctx, "console-cluster-moved-phone")
}
