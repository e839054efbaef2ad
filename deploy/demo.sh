#!/bin/bash
# Run a local pgherd cluster on loopback: one ZooKeeper server and three
# agents (node1..node3), each on free ports, as the postgres user when run
# as root.  The agents' logs stream to this terminal; Ctrl-C stops
# everything this script started (by PID) and removes its directory.
#
#   deploy/demo.sh              run until Ctrl-C
#   deploy/demo.sh --for 20     run for 20 seconds, then stop (used by CI)
#
# The agents bootstrap a real PostgreSQL 15 cluster: one primary, two
# streaming replicas.  The script prints where each node listens and which
# one is the primary.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
duration=0
if [ "${1:-}" = "--for" ]; then
	duration=${2:?"--for needs a number of seconds"}
fi

for program in pgherd pgherdctl; do
	if [ ! -x "$build/$program" ]; then
		echo "demo: $build/$program is missing; run 'make demo' (or 'make') first" >&2
		exit 1
	fi
done

run_as=()
owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	run_as=(runuser -u postgres --)
	owner=postgres
fi

work=$(mktemp -d /tmp/pgherd-demo.XXXXXX)
chmod 0755 "$work"
pids=()
declare -a ports

cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
	echo "demo: stopped"
}
trap cleanup EXIT INT TERM

# A port nobody listens on; bash's /dev/tcp needs no extra package.  Below
# the kernel's ephemeral range: a client connection can take a port from that
# range as its local port at any time, and a server then cannot bind it.
taken=" "
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "${ephemeral_low:-0}" -gt 11000 ] 2>/dev/null || ephemeral_low=32768
free_port() {
	local port
	while :; do
		port=$((10000 + RANDOM % (ephemeral_low - 10000)))
		case "$taken" in *" $port "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			taken="$taken$port "
			echo "$port"
			return
		fi
	done
}

zk_port=$(free_port)
mkdir -p "$work/zookeeper/data"
cat > "$work/zookeeper/zoo.cfg" <<CFG
# tickTime bounds how late the server expires a dead session: keep it small.
tickTime=200
initLimit=10
syncLimit=5
minSessionTimeout=1000
maxSessionTimeout=60000
dataDir=$work/zookeeper/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat
CFG
cp "$build/pgherd" "$build/pgherdctl" "$work/"
chown -R "$owner" "$work"
# The postgres user may not be able to enter the checkout (under /root, say).
cd "$work"

"${run_as[@]}" java -Xms32m -Xmx128m \
	-cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
	org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zookeeper/zoo.cfg" \
	> "$work/zookeeper/zookeeper.log" 2>&1 < /dev/null &
pids+=($!)

ruok() { (exec 3<>"/dev/tcp/127.0.0.1/$zk_port" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null; }
for _ in $(seq 300); do
	[ "$(ruok)" = imok ] && break
	sleep 0.1
done
if [ "$(ruok)" != imok ]; then
	echo "demo: ZooKeeper did not start; its log:" >&2
	tail -n 20 "$work/zookeeper/zookeeper.log" >&2
	exit 1
fi
echo "demo: ZooKeeper on 127.0.0.1:$zk_port (data in $work/zookeeper)"

for n in 1 2 3; do
	api=$(free_port)
	pg=$(free_port)
	cat > "$work/node$n.yml" <<CFG
scope: demo
namespace: /service
name: node$n
restapi:
  listen: 127.0.0.1:$api
  connect_address: 127.0.0.1:$api
zookeeper:
  hosts: ['127.0.0.1:$zk_port']
  session_timeout: 3
bootstrap:
  dcs: {ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1048576}
postgresql:
  listen: 127.0.0.1:$pg
  connect_address: 127.0.0.1:$pg
  data_dir: $work/node$n/data
  authentication:
    superuser: {username: postgres, password: demo-superuser-secret}
    replication: {username: replicator, password: demo-replication-secret}
  parameters: {fsync: off}
  use_pg_rewind: true
tags: {nofailover: false}
CFG
	mkdir -p "$work/node$n"
	chown "$owner" "$work/node$n.yml" "$work/node$n"
	"${run_as[@]}" "$work/pgherd" "$work/node$n.yml" &
	pids+=($!)
	ports[$n]=$pg
done

# Which node is the primary: ask each PostgreSQL through its private socket.
role_of() {
	"${run_as[@]}" psql -X -At -h "$work/node$1/data.pgherd" -p "${ports[$1]}" -U postgres \
		-d postgres -c "select case when pg_is_in_recovery() then 'replica' else 'primary' end" \
		2>/dev/null
}
for _ in $(seq 300); do
	primaries=0
	replicas=0
	for n in 1 2 3; do
		case "$(role_of $n)" in
		primary) primaries=$((primaries + 1)) ;;
		replica) replicas=$((replicas + 1)) ;;
		esac
	done
	[ "$primaries" -eq 1 ] && [ "$replicas" -eq 2 ] && break
	sleep 0.1
done
for n in 1 2 3; do
	echo "demo: node$n PostgreSQL on 127.0.0.1:${ports[$n]} ($(role_of $n || echo unknown))"
done

echo "demo: three agents started; znodes under /service/demo on 127.0.0.1:$zk_port"
echo "demo: connect with: psql -h 127.0.0.1 -p <port> -U postgres (password demo-superuser-secret)"
echo "demo: try kill -9 on the primary's postmaster, or kill -STOP on its agent; Ctrl-C to stop"
if [ "$duration" -gt 0 ]; then
	sleep "$duration"
else
	wait
fi
