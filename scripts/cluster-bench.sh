#!/usr/bin/env bash
# cluster-bench.sh: the load generator's load phase, with the same client
# settings, against four setups on this machine, in one run, and one table:
#
#   (a) one gateway on bbolt
#   (b) one gateway on PostgreSQL (no NATS)
#   (c) three gateways sharing PostgreSQL and NATS (scripts/cluster.sh):
#       visitors on n1 and n2, agents on n3, so every message crosses nodes
#   (d) the same cluster with visitors on long-poll on n1 and agents on n3:
#       its agent→visitor latency is "a visitor's long-poll on node 1
#       receives an agent's message sent on node 3"
#
#   scripts/cluster-bench.sh         (make bench-cluster)
#
# Every gateway runs bin/cxgate with one configuration file this script
# writes: the demo deployment, -agents agents of 99 chats each and no rate
# limits (as cxgate-load's own gateway has), so that the store and the
# cluster are what differ. Both stores sync: bbolt fdatasyncs each commit,
# PostgreSQL runs with fsync on (CXGATE_CLUSTER_PG_FSYNC, default on here;
# off is scripts/cluster.sh's own default), so every acknowledged message is
# durable. Everything it starts it stops, also on Ctrl-C; the temporary
# directory goes with it. The reports of each run and the gateways' logs are
# kept in $CXGATE_BENCH_OUT.
#
# Environment (the load generator's flags of the same names):
#   CXGATE_BENCH_VISITORS   -visitors (default 100)
#   CXGATE_BENCH_AGENTS     -agents (default 4)
#   CXGATE_BENCH_RATE       -rate, visitor messages/s (default 1000)
#   CXGATE_BENCH_DURATION   -duration (default 10s)
#   CXGATE_BENCH_LP_RATE    -rate of the long-poll run (d) (default half CXGATE_BENCH_RATE: each long-poll
#                           visitor sends one request at a time and falls behind sooner)
#   CXGATE_BENCH_PORT       first of the ports used: PORT (a), PORT+1 (b), PORT+2..4 (c, d),
#                           PORT+10 NATS, PORT+11 PostgreSQL (default 18180)
#   CXGATE_CLUSTER_PG_FSYNC PostgreSQL's fsync (default on)
#   CXGATE_BENCH_OUT        where the reports and logs go (default bin/cluster-bench of the checkout)
#   GO                      the go command (default go)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
visitors=${CXGATE_BENCH_VISITORS:-100}
agents=${CXGATE_BENCH_AGENTS:-4}
rate=${CXGATE_BENCH_RATE:-1000}
duration=${CXGATE_BENCH_DURATION:-10s}
lp_rate=${CXGATE_BENCH_LP_RATE:-$((rate / 2))}
port=${CXGATE_BENCH_PORT:-18180}
out=${CXGATE_BENCH_OUT:-$root/bin/cluster-bench}
host=127.0.0.1

say() { printf 'cluster-bench: %s\n' "$*" >&2; }
fail() {
	say "$*"
	exit 1
}

command -v jq >/dev/null || fail "jq not found (it reads the load generator's JSON): apt-get install -y jq"
command -v curl >/dev/null || fail "curl not found (it checks the gateways' /readyz): apt-get install -y curl"
# Enough agents for the visitors at 99 chats each.
agents=$((agents > (visitors + 98) / 99 ? agents : (visitors + 98) / 99))

work=$(mktemp -d "${TMPDIR:-/tmp}/cxgate-bench.XXXXXX")
chmod 755 "$work" # scripts/cluster.sh's PostgreSQL (user postgres) lives under it
bin=$work/bin
mkdir -p "$bin" "$out"
rm -f "$out"/*.json "$out"/*.out "$out"/*.err "$out"/*.log

# Processes this script started itself (the lone gateways): name pid.
gateways=()
cluster_pid=

cleanup() {
	trap '' INT TERM
	local i pid
	for i in "${gateways[@]}"; do
		pid=${i#* }
		kill -TERM "$pid" 2>/dev/null || true
	done
	for i in "${gateways[@]}"; do
		pid=${i#* }
		for _ in $(seq 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ -n "$cluster_pid" ]; then
		# Its trap stops the gateways, NATS and PostgreSQL in order.
		kill -TERM "$cluster_pid" 2>/dev/null || true
		wait "$cluster_pid" 2>/dev/null || true
	fi
	if [ -f "$bin/cluster.state" ]; then
		CXGATE_CLUSTER_BIN=$bin "$root/scripts/cluster.sh" stop >&2 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building cxgate, cxgate-nats and cxgate-load into $bin"
(cd "$root" && "$GO" build -o "$bin/cxgate" ./cmd/cxgate && "$GO" build -o "$bin/cxgate-load" ./cmd/cxgate-load)

# The gateways' configuration: the demo deployment, the load agents, no limits.
cfg=$work/bench.yaml
tokens=
{
	cat <<'EOF'
adminToken: "bench-admin-token"
limits: {ratePerToken: -1, ratePerIP: -1, connectionsPerIP: -1, chatsPerIPPerMinute: -1, storeBytesPerMinute: -1}
deployments:
  - {key: demo, mode: live, queue: support, origins: ["*"]}
queues:
  - {name: support}
agents:
EOF
	for i in $(seq 0 $((agents - 1))); do
		printf '  - {id: load-agent-%04d, name: "Load agent %d", token: load-agent-token-%04d, kind: human, maxChats: 99}\n' "$i" "$i" "$i"
	done
} >"$cfg"
for i in $(seq 0 $((agents - 1))); do
	tokens=$tokens${tokens:+,}$(printf 'load-agent-token-%04d' "$i")
done

# ready waits for the gateway on port $2 (pid $3, named $1) to answer /readyz.
ready() {
	local i
	for i in $(seq 300); do
		curl -fsS -o /dev/null --max-time 2 "http://$host:$2/readyz" 2>/dev/null && return 0
		if ! kill -0 "$3" 2>/dev/null; then
			tail -n 30 "$out/$1.log" >&2 || true
			fail "gateway $1 exited before it was ready"
		fi
		sleep 0.1
	done
	tail -n 30 "$out/$1.log" >&2 || true
	fail "gateway $1 not ready after 30s"
}

# gateway starts a lone gateway named $1 on port $2 with more flags $3...;
# its pid is in $gw_pid.
gateway() {
	local name=$1 p=$2
	shift 2
	setsid "$bin/cxgate" --config "$cfg" --addr "$host:$p" --data "$work/$name" "$@" >"$out/$name.log" 2>&1 &
	gw_pid=$!
	gateways+=("$name $gw_pid")
	ready "$name" "$p" "$gw_pid"
}

# stop_gateway stops the lone gateway of pid $1.
stop_gateway() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}

# load runs the load generator as run $1 with more flags $2...; its table
# and JSON go to $out/$1.out, its progress to $out/$1.err.
load() {
	local name=$1
	shift
	say "run $name: cxgate-load $*"
	local rc=0
	"$bin/cxgate-load" -run load -visitors "$visitors" -agents "$agents" -duration "$duration" \
		-agent-tokens "$tokens" -json "$@" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
	sed -n '/^{/,$p' "$out/$name.out" >"$out/$name.json"
	if [ "$rc" != 0 ] || ! [ -s "$out/$name.json" ]; then
		tail -n 20 "$out/$name.err" >&2 || true
		say "run $name failed (exit $rc); its report: $out/$name.out"
	fi
}

say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# (a) one gateway on bbolt.
gateway bbolt "$port"
load a -rate "$rate" -target "http://$host:$port" -pid "$gw_pid"
stop_gateway "$gw_pid"

# The cluster: PostgreSQL, NATS, three gateways.
say "starting PostgreSQL, NATS and three gateways (scripts/cluster.sh)"
CXGATE_CLUSTER_PORTS="$((port + 2)) $((port + 3)) $((port + 4))" CXGATE_CLUSTER_NATS_PORT=$((port + 10)) \
	CXGATE_CLUSTER_PG_PORT=$((port + 11)) CXGATE_CLUSTER_BIN=$bin CXGATE_CLUSTER_DIR=$work \
	CXGATE_CLUSTER_PG_FSYNC=${CXGATE_CLUSTER_PG_FSYNC:-on} CXGATE_CLUSTER_ARGS="--config $cfg" GO=$GO "$root/scripts/cluster.sh" start >"$out/cluster.log" 2>&1 &
cluster_pid=$!
for i in $(seq 1200); do
	grep -q '^cluster: running' "$out/cluster.log" && break
	if ! kill -0 "$cluster_pid" 2>/dev/null || [ "$i" = 1200 ]; then
		cat "$out/cluster.log" >&2
		cluster_pid=
		fail "the cluster did not start"
	fi
	sleep 0.1
done
read -r _ cdir <"$bin/cluster.state"
pg_pid=$(head -n1 "$cdir/pg/data/postmaster.pid")
nats_pid=$(awk '$1 == "nats" {print $2}' "$cdir/pids")
n_pids=$(awk '$1 ~ /^n[0-9]/ {printf "%s%s", sep, $2; sep = ","}' "$cdir/pids")

# (b) one gateway on PostgreSQL, in a database of its own on the cluster's
# server (the cluster's gateways idle meanwhile).
"$(cat "$cdir/pg/bin")/createdb" -h "$host" -p $((port + 11)) -U postgres cxgate_single
gateway postgres $((port + 1)) --postgres "postgres://postgres@$host:$((port + 11))/cxgate_single?sslmode=disable"
load b -rate "$rate" -target "http://$host:$((port + 1))" -pid "$gw_pid" -aux-pid "$pg_pid"
stop_gateway "$gw_pid"

# (c) three nodes: visitors on n1 and n2, agents on n3.
n1=http://$host:$((port + 2)) n2=http://$host:$((port + 3)) n3=http://$host:$((port + 4))
load c -rate "$rate" -target "$n1,$n2,$n3" -pid "$n_pids" -aux-pid "$pg_pid,$nats_pid"

# (d) long-poll visitors on n1, agents on n3 (n2 idles).
load d -rate "$lp_rate" -transport longpoll -target "$n1,$n3" -pid "$n_pids" -aux-pid "$pg_pid,$nats_pid"

# The cluster's logs go before it does.
for f in "$cdir"/n*.log "$cdir/nats.log"; do
	cp "$f" "$out/cluster-$(basename "$f")" || true
done
cp "$cdir/pg/log" "$out/cluster-postgresql.log" || true

# The table.
row() {
	local name=$1 what=$2 f=$out/$1.json
	if ! [ -s "$f" ]; then
		printf '| %s | %s | run failed: see %s |\n' "$name" "$what" "$out/$name.out"
		return
	fi
	jq -r --arg name "$name" --arg what "$what" '
		def f1: if . == null or . < 0 then "–" else (. * 100 | round / 100 | tostring) end;
		def ms: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
		.details.load as $l | (.errors // {}) as $e |
		"| \($name) | \($what) | \($l.rate) | \($l.durable_per_s | round) | \($l.v2a.p50_ms | ms) / \($l.v2a.p99_ms | ms) | \($l.a2v.p50_ms | ms) / \($l.a2v.p99_ms | ms) | \([$e[]] | add // 0)\(if ($e | length) > 0 then " (" + ([$e | to_entries[] | "\(.key)=\(.value)"] | join(", ")) + ")" else "" end) | \($l.gateway_cores | f1) | \($l.aux_cores | f1) | \(.details.cpu.load.self_cores | f1) | \(.details.cpu.load.others_cores | f1) |"' "$f"
}
echo
echo "cluster-bench: -visitors $visitors -agents $agents -duration $duration; visitors on sockets (ws) unless said; bbolt fdatasyncs each commit, PostgreSQL fsync=${CXGATE_CLUSTER_PG_FSYNC:-on}; durable msg/s = acknowledged visitor sends + agent answers per second; CPU in cores: gateways summed and PostgreSQL+NATS (children included) from the first send to the end of the drain, clients and other processes over the whole phase"
echo
echo "| run | configuration | rate | durable msg/s | visitor→agent p50 / p99 ms | agent→visitor p50 / p99 ms | errors, timeouts | gateway CPU | PG+NATS CPU | clients CPU | others CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
row a "one gateway, bbolt (fsync)"
row b "one gateway, PostgreSQL (fsync ${CXGATE_CLUSTER_PG_FSYNC:-on}), no NATS"
row c "three gateways, PostgreSQL + NATS; visitors on n1/n2, agents on n3"
row d "three gateways; long-poll visitors on n1, agents on n3: agent→visitor = n3 send → n1 long-poll"
echo
say "reports and logs in $out"
