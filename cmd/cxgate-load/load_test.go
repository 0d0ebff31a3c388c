package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the bare echo server, the client
// process and the gateway's process, as the command does.
func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "echo":
		echoMain()
		return
	case "clients":
		clientMain()
		return
	case "gateway":
		gatewayMain()
		return
	}
	os.Exit(m.Run())
}

// TestLoadSmoke runs every phase, briefly and at a low rate, with the gateway
// in its own process (the default), then the memory phases with it in this
// one (-in-process); it checks that messages flowed both ways without an
// error and that the report has every figure. It checks no performance
// figure: timed tests are flaky.
func TestLoadSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway and a child process")
	}
	var progress bytes.Buffer
	o, err := parseFlags([]string{
		"-run", "all", "-visitors", "4", "-agents", "2", "-rate", "20", "-duration", "2s",
		"-idle", "20", "-longpolls", "20", "-poll-wait", "20s", "-http-conc", "4",
		"-http-duration", "300ms", "-http-warm", "50ms", "-progress", "500ms", "-drain", "30s",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := run(o, &syncWriter{w: &progress})
	t.Logf("ran in %v; progress:\n%s", time.Since(start).Round(time.Millisecond), progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	t.Log(table.String())

	if n := rep.TotalErrors(); n != 0 {
		t.Errorf("errors: %v (examples %v)", rep.Errors, rep.Details["error_examples"])
	}
	load, ok := rep.Details["load"].(loadResult)
	if !ok {
		t.Fatalf("no load details")
	}
	if load.Sent == 0 || load.Delivered != int(load.Sent) || load.AnswersGot != int(load.Sent) {
		t.Errorf("messages: sent %d, delivered to agents %d, answers delivered to visitors %d", load.Sent, load.Delivered, load.AnswersGot)
	}
	want := map[string][]string{
		"load/ws/agents-ws": {"visitor→agent p50", "visitor→agent p99", "visitor→agent p999",
			"agent→visitor p50", "agent→visitor p99", "agent→visitor p999",
			"visitor messages sent/s", "messages delivered/s (both ways)", "gateway CPU while sending"},
		"http/c4":     {"bare fiber POST rate", "sendMessage rate", "server CPU per durable send"},
		"load":        {"CPU cores used by the gateway", "CPU cores used by the clients (this process)"},
		"idle/20":     {"gateway heap+stack per idle socket", "gateway RSS per idle socket", "gateway heap per open chat (no socket)", "sockets open at the gateway"},
		"longpoll/20": {"long-polls parked at once", "long-polls answered with their message", "send → poll answer p50", "send → poll answer p99"},
		"all":         {"errors (rejections, drops, timeouts)"},
	}
	for phase, names := range want {
		for _, name := range names {
			if _, ok := rep.Figure(phase, name); !ok {
				t.Errorf("report lacks %s / %s", phase, name)
			}
		}
	}
	for _, name := range []string{"visitor→agent p50", "agent→visitor p50"} {
		if f, _ := rep.Figure("load/ws/agents-ws", name); f.Value <= 0 {
			t.Errorf("%s = %v, want a measured latency", name, f.Value)
		}
	}
	if f, _ := rep.Figure("longpoll/20", "long-polls answered with their message"); f.Value != 20 {
		t.Errorf("long-polls answered: %v of 20", f.Value)
	}
	// The gateway's process did the sends: its CPU time was read.
	if f, _ := rep.Figure("http/c4", "server CPU per durable send"); !(f.Value > 0) {
		t.Errorf("server CPU per durable send = %v, want a measured time", f.Value)
	}
	if f, _ := rep.Figure("idle/20", "sockets open at the gateway"); f.Value != 20 {
		t.Errorf("sockets open at the gateway's process: %v of 20", f.Value)
	}
	// The same two phases with the gateway in this process and the
	// clients in a child, as when RLIMIT_NOFILE is too low for both ends of
	// 10,000 sockets.
	o2, err := parseFlags([]string{"-run", "idle,longpoll", "-idle", "10", "-longpolls", "10", "-poll-wait", "20s", "-clients-child", "-in-process"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	progress.Reset()
	rep2, err := run(o2, &syncWriter{w: &progress})
	if err != nil {
		t.Fatalf("%v; progress:\n%s", err, progress.String())
	}
	if n := rep2.TotalErrors(); n != 0 {
		t.Errorf("clients in a child: errors %v (examples %v)", rep2.Errors, rep2.Details["error_examples"])
	}
	if f, _ := rep2.Figure("idle/10", "sockets open at the gateway"); f.Value != 10 {
		t.Errorf("clients in a child: sockets open %v of 10", f.Value)
	}
	if f, _ := rep2.Figure("longpoll/10", "long-polls answered with their message"); f.Value != 10 {
		t.Errorf("clients in a child: long-polls answered %v of 10", f.Value)
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Figures []map[string]any `json:"figures"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Figures) != len(rep.Figures) {
		t.Errorf("JSON report: %v, %d figures of %d", err, len(back.Figures), len(rep.Figures))
	}
}

// TestTargets checks how a list of -target URLs is split: agents on the
// last -agent-targets, visitors round-robin on the others; one target keeps
// both on it, as before.
func TestTargets(t *testing.T) {
	o, err := parseFlags([]string{"-target", "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3",
		"-pid", "10,11,12", "-aux-pid", "20", "-agent-tokens", "a,b", "-agents", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.pid != 10 || len(o.pids) != 3 || len(o.auxPids) != 1 {
		t.Errorf("pid %d pids %v aux %v", o.pid, o.pids, o.auxPids)
	}
	g, err := dialGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if !g.multi() || urls(g.visitorGWs) != "http://127.0.0.1:1,http://127.0.0.1:2" || urls(g.agentGWs) != "http://127.0.0.1:3" {
		t.Errorf("visitors on %s, agents on %s", urls(g.visitorGWs), urls(g.agentGWs))
	}
	if g.visitorGW(0).addr != "127.0.0.1:1" || g.visitorGW(1).addr != "127.0.0.1:2" || g.visitorGW(2).addr != "127.0.0.1:1" || g.agentGW(1).addr != "127.0.0.1:3" {
		t.Error("visitors or agents not round-robin")
	}

	o, err = parseFlags([]string{"-target", "http://127.0.0.1:1,http://127.0.0.1:3", "-agent-targets", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialGateway(o); err == nil {
		t.Error("-agent-targets 2 of 2 targets: no error")
	}

	o, err = parseFlags([]string{"-target", "http://127.0.0.1:1", "-pid", "10"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g, err = dialGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if g.multi() || g.visitorGW(5) != g || g.agentGW(5) != g || g.pid != 10 {
		t.Error("one target: visitors and agents not both on it")
	}
	if _, err := parseFlags([]string{"-pid", "x", "-target", "http://127.0.0.1:1"}, io.Discard); err == nil {
		t.Error("-pid x: no error")
	}
}
