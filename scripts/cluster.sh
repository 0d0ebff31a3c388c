#!/usr/bin/env bash
# cluster.sh: a cxgate cluster on this machine, for trying cluster mode out.
#
#   scripts/cluster.sh [start]   build, start everything, print the URLs, wait;
#                                Ctrl-C (or SIGTERM) stops it all (make cluster)
#   scripts/cluster.sh stop      stop the cluster started from this checkout,
#                                from another terminal (make cluster-stop)
#
# What runs, all on 127.0.0.1 and all under one temporary directory that the
# stop removes:
#   - PostgreSQL from Debian's server binaries (apt-get install -y postgresql),
#     a cluster of its own in <tmp>/pg (run as the postgres user when root),
#     with the database cxgate; the system's service is neither used nor needed
#   - cxgate-nats (this module's NATS server) on port 4222
#   - three gateways with the demo setup on ports 8081, 8082 and 8083, each
#     --data <tmp>/nN --postgres <url> --nats nats://127.0.0.1:4222 --node nN,
#     logging to <tmp>/nN.log
#
# Environment:
#   CXGATE_CLUSTER_PORTS      the gateways' ports, one gateway each (default "8081 8082 8083")
#   CXGATE_CLUSTER_NATS_PORT  NATS's port (default 4222)
#   CXGATE_CLUSTER_PG_PORT    PostgreSQL's port (default 55432, clear of a system server's 5432)
#   CXGATE_CLUSTER_TIMEOUT    seconds each gateway has to answer /readyz (default 30)
#   CXGATE_CLUSTER_PG_BIN     directory of initdb, pg_ctl and postgres (default: found on PATH,
#                             else the newest /usr/lib/postgresql/*/bin)
#   CXGATE_CLUSTER_DIR        parent of the temporary directory (default $TMPDIR or /tmp)
#   CXGATE_CLUSTER_BIN        where the binaries and cluster.state go (default bin/ of the checkout)
#   CXGATE_CLUSTER_PG_FSYNC   PostgreSQL's fsync setting (default off: the data goes with the
#                             directory; on for durable figures, as scripts/cluster-bench.sh does)
#   CXGATE_CLUSTER_ARGS       more arguments for every gateway, split on spaces (e.g.
#                             "--config bench.yaml": scripts/cluster-bench.sh's agents, no limits)
#   GO                        the go command (default go)
#
# The running cluster is recorded in bin/cluster.state (the script's pid and
# its directory) so that stop finds it; stop also cleans up after a script
# that was killed outright (kill -9), from the pids the directory lists.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bindir=${CXGATE_CLUSTER_BIN:-$root/bin}
state=$bindir/cluster.state
GO=${GO:-go}
ports=${CXGATE_CLUSTER_PORTS:-8081 8082 8083}
nats_port=${CXGATE_CLUSTER_NATS_PORT:-4222}
pg_port=${CXGATE_CLUSTER_PG_PORT:-55432}
timeout=${CXGATE_CLUSTER_TIMEOUT:-30}
pg_fsync=${CXGATE_CLUSTER_PG_FSYNC:-off}
read -r -a extra_args <<<"${CXGATE_CLUSTER_ARGS:-}"
host=127.0.0.1

say() { printf 'cluster: %s\n' "$*"; }
fail() {
	printf 'cluster: %s\n' "$*" >&2
	exit 1
}

# pg_bin is the directory of initdb, pg_ctl and postgres: PATH first, else
# the newest of Debian's versioned directories (which are not on PATH).
pg_bin() {
	local p d
	if [ -n "${CXGATE_CLUSTER_PG_BIN:-}" ]; then
		[ -x "$CXGATE_CLUSTER_PG_BIN/initdb" ] && [ -x "$CXGATE_CLUSTER_PG_BIN/pg_ctl" ] && echo "$CXGATE_CLUSTER_PG_BIN"
		return
	fi
	if p=$(command -v initdb 2>/dev/null) && p=$(readlink -f "$p") && [ -x "$(dirname "$p")/pg_ctl" ]; then
		dirname "$p"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
			echo "$d"
			return
		fi
	done
	return 1
}

# as_pg runs a command as the postgres user when root (initdb and postgres
# refuse root), as the caller otherwise.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# listening reports whether something accepts TCP connections on host:$1.
listening() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# stop_dir stops everything recorded in the cluster directory $1 (gateways
# first, while the store and NATS are still there, then NATS, then
# PostgreSQL) and removes the directory.
stop_dir() {
	local dir=$1 name pid i
	[ -d "$dir" ] || return 0
	if [ -f "$dir/pids" ]; then
		# Gateways (listed last) first.
		while read -r name pid; do
			case $name in n[0-9]*) kill -TERM "$pid" 2>/dev/null || true ;; esac
		done <"$dir/pids"
		while read -r name pid; do
			case $name in n[0-9]*) wait_gone "$name" "$pid" ;; esac
		done <"$dir/pids"
		while read -r name pid; do
			if [ "$name" = nats ]; then
				kill -TERM "$pid" 2>/dev/null || true
				wait_gone "$name" "$pid"
			fi
		done <"$dir/pids"
	fi
	if [ -f "$dir/pg/data/postmaster.pid" ]; then
		as_pg "$(cat "$dir/pg/bin")/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 ||
			say "PostgreSQL did not stop cleanly: see $dir/pg/log"
	fi
	rm -rf "$dir"
}

# wait_gone waits up to 15s for process $2 (named $1) to exit, then kills it.
wait_gone() {
	local i
	for i in $(seq 150); do
		kill -0 "$2" 2>/dev/null || return 0
		sleep 0.1
	done
	say "$1 (pid $2) still running 15s after SIGTERM: killing it"
	kill -KILL "$2" 2>/dev/null || true
}

# stop is the stop subcommand: it asks the running script to stop (its trap
# stops everything in order) and cleans up itself when that script is gone.
stop() {
	[ -f "$state" ] || fail "no cluster running from $root (no $state)"
	local pid dir i
	read -r pid dir <"$state"
	if kill -0 "$pid" 2>/dev/null; then
		say "stopping the cluster (script pid $pid)"
		kill -TERM "$pid"
		for i in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if [ -d "$dir" ]; then
		say "the script is gone; stopping what it left in $dir"
		stop_dir "$dir"
	fi
	rm -f "$state"
	say "stopped"
}

# tail_log prints the end of a log under a heading.
tail_log() {
	printf -- '--- last lines of %s ---\n' "$1" >&2
	tail -n 30 "$1" >&2 || true
	printf -- '---\n' >&2
}

start() {
	local bin
	local where="on PATH or under /usr/lib/postgresql/*/bin"
	[ -z "${CXGATE_CLUSTER_PG_BIN:-}" ] || where="in $CXGATE_CLUSTER_PG_BIN (CXGATE_CLUSTER_PG_BIN)"
	bin=$(pg_bin) || fail "PostgreSQL's server binaries (initdb, pg_ctl, postgres) not found $where: apt-get install -y postgresql"
	command -v curl >/dev/null || fail "curl not found (it checks the gateways' /readyz): apt-get install -y curl"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || fail "running as root and there is no postgres user to run PostgreSQL as (Debian's postgresql package creates it)"
	fi
	if [ -f "$state" ]; then
		local old_pid old_dir
		read -r old_pid old_dir <"$state"
		if kill -0 "$old_pid" 2>/dev/null; then
			fail "a cluster is already running from this checkout (script pid $old_pid, $old_dir): make cluster-stop"
		fi
		say "cleaning up after a cluster whose script is gone ($old_dir)"
		stop_dir "$old_dir"
		rm -f "$state"
	fi
	local p
	for p in $pg_port $nats_port $ports; do
		if listening "$p"; then
			fail "port $p on $host is in use; pick others with CXGATE_CLUSTER_PORTS, CXGATE_CLUSTER_NATS_PORT or CXGATE_CLUSTER_PG_PORT"
		fi
	done

	say "building $bindir/cxgate and $bindir/cxgate-nats"
	mkdir -p "$bindir"
	(cd "$root" && "$GO" build -o "$bindir/cxgate" ./cmd/cxgate && "$GO" build -o "$bindir/cxgate-nats" ./cmd/cxgate-nats)

	dir=$(mktemp -d "${CXGATE_CLUSTER_DIR:-${TMPDIR:-/tmp}}/cxgate-cluster.XXXXXX")
	# Readable by the postgres user, which must reach <dir>/pg.
	chmod 755 "$dir"
	echo "$$ $dir" >"$state"
	trap 'stopping' INT TERM
	# Once stopping, a second Ctrl-C must not cut the stop short.
	trap 'trap "" INT TERM; stop_dir "$dir"; rm -f "$state"' EXIT

	say "PostgreSQL ($bin) on $host:$pg_port, in $dir/pg"
	mkdir -p "$dir/pg"
	echo "$bin" >"$dir/pg/bin"
	if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/pg"; fi
	# No fsync by default: the cluster's data goes with the directory.
	if ! as_pg "$bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		tail_log "$dir/initdb.log"
		fail "initdb failed"
	fi
	# setsid: Ctrl-C reaches this script only, which stops the gateways
	# before the database they use.
	if ! as_pg setsid "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w -t 60 \
		-o "-p $pg_port -k $dir/pg -c listen_addresses=$host -c fsync=$pg_fsync -c max_connections=200" start >/dev/null; then
		tail_log "$dir/pg/log"
		fail "PostgreSQL did not start"
	fi
	if ! "$bin/createdb" -h "$host" -p "$pg_port" -U postgres cxgate; then
		fail "could not create the database cxgate"
	fi
	pg_url="postgres://postgres@$host:$pg_port/cxgate?sslmode=disable"

	say "NATS (cxgate-nats) on $host:$nats_port"
	setsid "$bindir/cxgate-nats" -addr "$host:$nats_port" >"$dir/nats.log" 2>&1 &
	echo "nats $!" >>"$dir/pids"
	local i
	for i in $(seq 100); do
		listening "$nats_port" && break
		if ! kill -0 "$!" 2>/dev/null || [ "$i" = 100 ]; then
			tail_log "$dir/nats.log"
			fail "NATS did not start on $host:$nats_port"
		fi
		sleep 0.1
	done
	nats_url="nats://$host:$nats_port"

	local n=0 port name
	for port in $ports; do
		n=$((n + 1))
		name=n$n
		setsid "$bindir/cxgate" --addr "$host:$port" --data "$dir/$name" \
			--postgres "$pg_url" --nats "$nats_url" --node "$name" ${extra_args[@]+"${extra_args[@]}"} >"$dir/$name.log" 2>&1 &
		echo "$name $!" >>"$dir/pids"
	done
	say "waiting up to ${timeout}s for each gateway's /readyz"
	local pid deadline failed=
	deadline=$((SECONDS + timeout))
	while read -r name pid; do
		case $name in n[0-9]*) ;; *) continue ;; esac
		port=$(echo $ports | cut -d' ' -f"${name#n}")
		until curl -fsS -o /dev/null --max-time 2 "http://$host:$port/readyz" 2>/dev/null; do
			if ! kill -0 "$pid" 2>/dev/null; then
				say "gateway $name (http://$host:$port) exited before it was ready"
				tail_log "$dir/$name.log"
				failed=1
				break
			fi
			if [ $SECONDS -ge $deadline ]; then
				say "gateway $name (http://$host:$port) not ready after ${timeout}s"
				tail_log "$dir/$name.log"
				failed=1
				break
			fi
			sleep 0.2
		done
	done <"$dir/pids"
	[ -z "$failed" ] || fail "the cluster did not start; stopping it"

	echo
	say "running; logs in $dir"
	printf '  PostgreSQL  %s   (log %s)\n' "$pg_url" "$dir/pg/log"
	printf '  NATS        %s   (log %s)\n' "$nats_url" "$dir/nats.log"
	n=0
	for port in $ports; do
		n=$((n + 1))
		printf '  gateway n%d  http://%s:%s/   (log %s)\n' "$n" "$host" "$port" "$dir/n$n.log"
		grep -m1 -E '^ +agent token:' "$dir/n$n.log" | sed 's/^ */              /' || true
		grep -m1 -E '^ +admin token:' "$dir/n$n.log" | sed 's/^ */              /' || true
	done
	printf '  demo pages  /demo/  /agent/ on each gateway\n'
	say "Ctrl-C here, or make cluster-stop elsewhere, stops it all"

	# Wait, saying once when a gateway or NATS exits (stopping one by hand
	# to try an outage is fine: the rest keep running).
	local reported=" "
	while :; do
		while read -r name pid; do
			if [[ $reported != *" $name "* ]] && ! kill -0 "$pid" 2>/dev/null; then
				say "$name (pid $pid) exited; its log: $dir/$name.log"
				reported="$reported$name "
			fi
		done <"$dir/pids"
		sleep 1 &
		wait $! || true
	done
}

stopping() {
	echo
	say "stopping"
	exit 0 # the EXIT trap stops everything and removes the directory
}

case ${1:-start} in
start) start ;;
stop) stop ;;
*) fail "usage: $0 [start|stop]" ;;
esac
