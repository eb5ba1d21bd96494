#!/usr/bin/env bash
# check-cluster.sh proves deploy/nats/n1.conf, n2.conf and n3.conf form the
# JetStream cluster docker-compose.yml promises, without Docker: it starts
# the three configurations as local nats-server processes on loopback (only
# host names, ports and directories replaced; sync_interval: always kept),
# runs `isogate serve --replicas 3` against them, and checks that
#   - the three nodes form one cluster with a JetStream meta leader,
#   - isogate provisions and reports ready on /readyz,
#   - every stream, bucket and the object store has 3 replicas, all current,
#   - every node fsyncs each write (/varz jetstream.config.sync_always).
# It then stops everything with SIGTERM and removes its files.
#
# Usage (from anywhere): deploy/check-cluster.sh
# Environment:
#   NATS_SERVER  nats-server binary (default: built from the version in go.mod)
#   ISOGATE      isogate binary (default: built from ./cmd/isogate)
#   PORT_BASE    first of the ports used (default 14000): clients PORT_BASE+1..3,
#                routes +11..13, monitoring +21..23, isogate ops +80
#   KEEP_TMP=1   keep the temporary directory (logs, data) for inspection
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
port_base=${PORT_BASE:-14000}
ops_port=$((port_base + 80))
# Every resource isogate provisions, by the name of the stream behind it.
want_streams=(PAYMENTS STATEMENTS DLQ OPS KV_batches KV_intents KV_cursors OBJ_archive)

for tool in curl jq go; do
	command -v "$tool" >/dev/null || { echo "check-cluster: $tool is required" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/isogate-check-cluster.XXXXXX")
pids=()  # every process this script started
names=() # their names, for messages

log() { printf '%s check-cluster: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() {
	log "FAIL: $*" >&2
	exit 1
}

# stop_all sends SIGTERM to every process still running, waits up to 15 s
# for each, then SIGKILLs what is left.
stop_all() {
	local i pid
	for i in "${!pids[@]}"; do
		kill -TERM "${pids[$i]}" 2>/dev/null || true
	done
	for i in "${!pids[@]}"; do
		pid=${pids[$i]}
		for _ in $(seq 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "${names[$i]} (pid $pid) ignored SIGTERM for 15s: killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	pids=()
	names=()
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if [[ $rc -ne 0 ]]; then
		for f in "$tmp"/*.log; do
			[[ -f $f ]] || continue
			echo "---- last lines of $(basename "$f")" >&2
			tail -n 25 "$f" >&2
		done
	fi
	if [[ ${KEEP_TMP:-} == 1 ]]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME LOGFILE CMD... runs CMD in the background and records its pid.
start() {
	local name=$1 logfile=$2
	shift 2
	"$@" >"$logfile" 2>&1 &
	pids+=($!)
	names+=("$name")
}

# alive fails the check when a process this script started has exited.
alive() {
	local i
	for i in "${!pids[@]}"; do
		kill -0 "${pids[$i]}" 2>/dev/null || fail "${names[$i]} exited early (log: $tmp/${names[$i]}.log)"
	done
}

# wait_for SECONDS WHAT CMD... polls CMD every 0.2 s until it succeeds.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@"; do
		alive
		((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $what"
		sleep 0.2
	done
}

ms() { date +%s%3N; }
since() { echo "$(($(ms) - $1)) ms"; }

port_free() { ! (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# ---- binaries
cd "$root"
if [[ -z ${NATS_SERVER:-} ]]; then
	NATS_SERVER=$tmp/nats-server
	log "building nats-server $(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)"
	go build -o "$NATS_SERVER" github.com/nats-io/nats-server/v2
fi
if [[ -z ${ISOGATE:-} ]]; then
	ISOGATE=$tmp/isogate
	log "building isogate"
	go build -o "$ISOGATE" ./cmd/isogate
fi
log "using $("$NATS_SERVER" --version)"

# ---- configurations
for p in $((port_base + 1)) $((port_base + 2)) $((port_base + 3)) \
	$((port_base + 11)) $((port_base + 12)) $((port_base + 13)) \
	$((port_base + 21)) $((port_base + 22)) $((port_base + 23)) $ops_port; do
	port_free "$p" || fail "port $p is in use; set PORT_BASE to a free range"
done

sed_routes=()
for i in 1 2 3; do
	sed_routes+=(-e "s#nats-route://n$i:6222#nats-route://127.0.0.1:$((port_base + 10 + i))#")
done
urls=()
for i in 1 2 3; do
	n=n$i
	src=$here/nats/$n.conf
	[[ -f $src ]] || fail "$src not found"
	out=$("$NATS_SERVER" --config "$src" -t 2>&1) || fail "$src: $out"
	grep -Eq '^[[:space:]]*sync_interval:[[:space:]]*always[[:space:]]*$' "$src" ||
		fail "$src: jetstream.sync_interval is not always"
	mkdir -p "$tmp/$n"
	sed -e "s#0\.0\.0\.0:4222#127.0.0.1:$((port_base + i))#" \
		-e "s#0\.0\.0\.0:6222#127.0.0.1:$((port_base + 10 + i))#" \
		-e "s#0\.0\.0\.0:8222#127.0.0.1:$((port_base + 20 + i))#" \
		-e "s#store_dir: /data\$#store_dir: \"$tmp/$n/data\"#" \
		"${sed_routes[@]}" "$src" >"$tmp/$n.conf"
	# Anything the substitutions missed would reach for Docker's network
	# or write to /data: refuse to run rather than test something else.
	if grep -nE '0\.0\.0\.0|nats-route://n[0-9]|store_dir: /data' "$tmp/$n.conf" >&2; then
		fail "$src has settings check-cluster.sh does not know how to run locally (above)"
	fi
	grep -q 'sync_interval: always' "$tmp/$n.conf" || fail "$n: lost sync_interval: always"
	urls+=("nats://127.0.0.1:$((port_base + i))")
done
nats_url=$(
	IFS=,
	echo "${urls[*]}"
)

# ---- cluster
t0=$(ms)
for i in 1 2 3; do
	start "n$i" "$tmp/n$i.log" "$NATS_SERVER" --config "$tmp/n$i.conf"
done

# /healthz is 200 once the node's JetStream is up and current with a meta
# leader; /jsz then names the leader and the cluster size.
node_healthy() { curl -fs -o /dev/null "http://127.0.0.1:$((port_base + 20 + $1))/healthz"; }
cluster_formed() {
	local i meta
	for i in 1 2 3; do
		node_healthy "$i" || return 1
		meta=$(curl -fs "http://127.0.0.1:$((port_base + 20 + i))/jsz") || return 1
		jq -e '.meta_cluster.leader != null and .meta_cluster.leader != "" and .meta_cluster.cluster_size == 3' \
			<<<"$meta" >/dev/null || return 1
	done
}
wait_for 60 "a 3-node JetStream cluster with a meta leader" cluster_formed
meta=$(curl -fsS "http://127.0.0.1:$((port_base + 21))/jsz" | jq -c '.meta_cluster | {name, leader, cluster_size}')
log "cluster formed in $(since "$t0"): $meta"

# ---- isogate
t1=$(ms)
start isogate "$tmp/isogate.log" "$ISOGATE" serve --nats-url "$nats_url" --replicas 3 \
	--ops-listen "127.0.0.1:$ops_port" --log-format text
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops_port/readyz") == 200 ]]; }
wait_for 60 "isogate /readyz 200" ready
log "isogate ready in $(since "$t1") ($(curl -fsS "http://127.0.0.1:$ops_port/readyz" | tr -d '\n'))"
grep -E 'provisioned' "$tmp/isogate.log" | sed 's/^/    /' || true

# ---- replicas: every node hosts every stream with 3 replicas, and each
# stream's leader sees both followers current. (Only the leader knows whether
# a follower is current: a follower reports its peers as not current.)
want_json=$(printf '%s\n' "${want_streams[@]}" | jq -R . | jq -sc .)
# jsz I prints node I's stream details, one JSON object per wanted stream.
jsz() {
	curl -fs "http://127.0.0.1:$((port_base + 20 + $1))/jsz?streams=true&config=true" |
		jq -c --argjson want "$want_json" '.account_details[]?.stream_detail[]? | select(.name as $n | $want | index($n))'
}
# leader_view prints, for every wanted stream, the line its leader reports.
leader_view() {
	local i
	for i in 1 2 3; do
		jsz "$i" | jq -r --arg me "n$i" 'select(.cluster.leader == $me)
			| "\(.name) replicas=\(.config.num_replicas) leader=\(.cluster.leader) current_followers=\([.cluster.replicas[]? | select(.current)] | length)/\([.cluster.replicas[]?] | length)"'
	done | sort
}
replicated() {
	local i got
	for i in 1 2 3; do
		got=$(jsz "$i" | jq -s 'map(select(.config.num_replicas == 3)) | length')
		[[ $got -eq ${#want_streams[@]} ]] || return 1
	done
	got=$(leader_view | grep -cE '^[A-Za-z_]+ replicas=3 leader=n[123] current_followers=2/2$')
	[[ $got -eq ${#want_streams[@]} ]]
}
wait_for 30 "every stream on every node with 3 replicas, followers current" replicated
log "each node hosts all ${#want_streams[@]} streams with 3 replicas; as each stream's leader reports it:"
leader_view | sed 's/^/    /'

# ---- fsync on every write, on every node
for i in 1 2 3; do
	varz=$(curl -fsS "http://127.0.0.1:$((port_base + 20 + i))/varz")
	sync=$(jq -r '.jetstream.config.sync_always // false' <<<"$varz")
	log "n$i $(jq -r '"version=\(.version) server_name=\(.server_name) cluster=\(.cluster.name)"' <<<"$varz") sync_always=$sync"
	[[ $sync == true ]] || fail "n$i: /varz jetstream.config.sync_always is $sync, want true"
done

# ---- shutdown: isogate first (drains), then the nodes
t2=$(ms)
isogate_pid=${pids[3]}
kill -TERM "$isogate_pid"
rc=0
wait "$isogate_pid" || rc=$?
[[ $rc -eq 0 ]] || fail "isogate exited $rc after SIGTERM, want 0"
log "isogate stopped cleanly on SIGTERM in $(since "$t2")"
unset 'pids[3]' 'names[3]'
t3=$(ms)
stop_all
log "nats-servers stopped in $(since "$t3")"
log "PASS: 3-node cluster from deploy/nats, ${#want_streams[@]} streams with 3 current replicas each, sync_always on every node (total $(since "$t0"))"
