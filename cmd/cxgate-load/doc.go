// Command cxgate-load drives a cxgate gateway with scripted chats and reports
// latency, throughput and memory against the targets of DESIGN.md, each as a
// ratio against a baseline measured in the same run.
//
// Without -target it starts a gateway through server.New in a process of its
// own (this program again, in its gateway role): the demo setup with rate
// limits off, -agents agents of 99 chats each (tokens load-agent-token-NNNN),
// a fresh data directory in a temporary directory removed at exit, and
// -nosync for a non-durable comparison. The clients run in this process and
// the http phase's bare fiber baseline in a third, so that gateway, clients
// and baseline never share a process: the gateway's CPU time is read from
// /proc/PID/stat (server CPU per durable send, the gateway's cores while the
// load phase sends) and its memory from its own runtime. -in-process runs the
// gateway and the baseline in this process instead, beside the clients (the
// old default: client CPU and memory count against the gateway's). All
// traffic goes to 127.0.0.1.
//
// Phases (-run, default load,http; -idle N alone runs idle, -longpolls N alone
// runs longpoll; -run all runs every one):
//
//   - load: -visitors visitors over -transport ws|longpoll and -agents agents
//     on sockets; the agents go online, the visitors start chats (routed to the
//     agents), then the visitors send -rate messages/s in all for -duration and
//     the agents answer each one (-agent-send ws answers on the agent's socket,
//     http over HTTP). Each message carries a unique text: visitor→agent is
//     timed from the visitor's send to AgentService.messageReceived on the
//     agent's socket, agent→visitor from the agent's send to
//     WebChatService.messageReceived at the visitor. p50/p99/p999 are exact
//     (every sample kept, sorted). A progress line goes to stderr every second.
//   - http: durable WebChatService.sendMessage over HTTP against a bare fiber
//     handler on 127.0.0.1:0, the same fasthttp client, -http-conc workers and
//     -http-duration each, alternating in -http-rounds rounds. With each
//     server in its own process, the server CPU per request is that process's
//     CPU time over the requests measured (target ≤ 30 µs per durable send).
//   - idle: -idle visitor sockets, each after its startChat; the gateway's
//     memory per socket (HeapInuse+StackInuse after GC, and VmRSS), read in
//     its own process. With -in-process and the clients in this process their
//     own share is measured against a bare fiber websocket server in a child
//     process and subtracted; when both ends of every socket do not fit under
//     RLIMIT_NOFILE (or with -clients-child) the clients run in a child
//     process and the gateway is measured alone.
//   - longpoll: -longpolls long-polls parked at once, then one message in each
//     chat; every poll must answer with its message.
//
// -target may list a cluster's gateways, comma-separated: the load phase's
// agents connect to the last -agent-targets of them (default 1) and its
// visitors round-robin to the others, so that every message crosses nodes;
// the direction figures are then named "cross-node" (with -transport
// longpoll, agent→visitor is an agent's send on one node reaching a
// visitor's long-poll on another) and a "durable messages/s" figure counts
// the sends the gateways acknowledged. -pid lists the gateways' processes
// (CPU summed), -aux-pid PostgreSQL's postmaster and NATS (CPU with their
// children, reported apart). The other phases use the first target.
// scripts/cluster-bench.sh (make bench-cluster) runs it against one gateway
// on bbolt, one on PostgreSQL and three nodes.
//
// The report is a table on stdout (figure, measured, target, ratio/verdict);
// -json adds it as JSON. The CPU used by other processes during each phase is
// reported too: on a shared 2-core machine it explains most outliers.
// -cpuprofile and -memprofile write pprof profiles of the measured phases.
//
// Examples:
//
//	go run ./cmd/cxgate-load -visitors 200 -agents 4 -rate 5000 -duration 10s -transport ws
//	go run ./cmd/cxgate-load -idle 10000
//	go run ./cmd/cxgate-load -longpolls 10000
//	go run ./cmd/cxgate-load -run http
//	go run ./cmd/cxgate-load -run all -json
package main
