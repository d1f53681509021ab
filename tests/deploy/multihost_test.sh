#!/usr/bin/env bash
# The multi-host test on one machine: three network namespaces joined by veth
# pairs to a bridge (in a fourth, "switch" namespace) stand for three boxes, each
# with its own address. deploy/tessera-cluster drives them with its netns
# transport (`ip netns exec`, no ssh): `up` installs and starts a coordinator and
# two workers with CURVE on, requests are served across the workers, a rolling
# restart keeps serving, and killing one worker's node leaves the cluster serving.
# Needs root (namespaces); otherwise it exits 77, which CTest reports as skipped.
#   tests/deploy/multihost_test.sh TESSERA_BINARY SOURCE_DIR
set -euo pipefail
tessera=${1:?tessera binary}
src=${2:?source dir}

skip() {
  echo "SKIPPED: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces (uid $(id -u))"
command -v ip >/dev/null || skip "no ip command (Debian package iproute2)"
command -v rsync >/dev/null || skip "no rsync (Debian package rsync)"
tag=t$$
ip netns add "${tag}sw" 2>/dev/null || skip "cannot create network namespaces here (ip netns add failed)"

work=$(mktemp -d "${TESSERA_TEST_TMP:-/tmp}/multihost.XXXXXX")
boxes=(box1 box2 box3)
cleanup() {
  set +e
  for b in "${boxes[@]}"; do
    pids=$(ip netns pids "${tag}$b" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "${tag}$b" 2>/dev/null
  done
  ip netns del "${tag}sw" 2>/dev/null
  [ -n "${keep_work:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for b in "${boxes[@]}"; do
    echo "--- $b log" >&2
    tail -n 20 "$work/install/$b/log/node.log" >&2 2>/dev/null
  done
  exit 1
}

# --- the network: box i is 10.77.0.i/24 on eth0, bridged in the switch namespace
ip -n "${tag}sw" link add br0 type bridge
ip -n "${tag}sw" link set br0 up
for i in 1 2 3; do
  ns=${tag}box$i
  ip netns add "$ns"
  ip link add "${tag}b$i" type veth peer name "${tag}s$i"
  ip link set "${tag}b$i" netns "$ns"
  ip link set "${tag}s$i" netns "${tag}sw"
  ip -n "$ns" link set "${tag}b$i" name eth0
  ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "${tag}sw" link set "${tag}s$i" master br0
  ip -n "${tag}sw" link set "${tag}s$i" up
done
if command -v ping >/dev/null; then
  ip netns exec "${tag}box1" ping -c 1 -W 2 10.77.0.3 >/dev/null || fail "box1 cannot reach box3 over the bridge"
fi
echo "network: 3 boxes at 10.77.0.1-3"

# --- a small store, keys, and the cluster file
"$tessera" --store "$work/store" zoo --scale 0.1 --family resnet >/dev/null || fail "building the zoo"
"$tessera" keys gen --out "$work/keys" --name client >/dev/null
cat >"$work/cluster.toml" <<EOF
[cluster]
name = "netns-test"
transport = "netns"
service = "nohup"
install_dir = "$work/install"
binary = "$tessera"
store = "store"
keys_dir = "keys"
install_deps = false
curve = true
client_keys = ["keys/client.pub"]

[[boxes]]
name = "box1"
host = "10.77.0.1"
netns = "${tag}box1"
roles = ["coordinator"]
executors = 0
device_budget = "64MiB"
store_path = "$work/box1/store"

[[boxes]]
name = "box2"
host = "10.77.0.2"
netns = "${tag}box2"
roles = ["worker"]
device_budget = "256MiB"
store_path = "$work/box2/store"

[[boxes]]
name = "box3"
host = "10.77.0.3"
netns = "${tag}box3"
roles = ["worker"]
device_budget = "256MiB"
store_path = "$work/box3/store"
EOF
"$tessera" cluster check "$work/cluster.toml" || fail "the cluster file is refused"
cluster=("$src/deploy/tessera-cluster" -f "$work/cluster.toml")
export TESSERA_BIN=$tessera

# --- up, status
"${cluster[@]}" up || fail "tessera-cluster up"
status=$("${cluster[@]}" status) || fail "status reports nodes down: $status"
echo "$status"
for b in box1 box2 box3; do
  grep -q "^$b (.*): up" <<<"$status" || fail "status does not show $b up"
done
grep -q "device_bytes{state=\"budget\"} 268.4 MB" <<<"$status" || fail "status shows no memory per tier"

# --- requests from a client in box1's namespace, across the workers
client=(ip netns exec "${tag}box1" "$tessera" infer --model resnet18 --endpoint tcp://10.77.0.1:5555
  --curve-server-key "$work/keys/box1.pub" --curve-key "$work/keys/client.key" --timeout-ms 20000)
# Four clients at once, so both workers are busy (one at a time, the reuse-aware
# scheduler keeps every request on the worker that holds the model).
for c in 1 2 3 4; do
  ("${client[@]}" --count 6 --batch 8 >"$work/client$c.txt" 2>&1; echo $? >"$work/client$c.rc") &
done
wait
out=$(cat "$work"/client?.txt)
[ "$(cat "$work"/client?.rc | sort -u)" = 0 ] || fail "requests through the coordinator failed: $out"
[ "$(grep -c "^request" <<<"$out")" = 24 ] || fail "not every request was answered: $out"
grep -q "executor = .* box2/" <<<"$out" || fail "no request ran on box2: $out"
grep -q "executor = .* box3/" <<<"$out" || fail "no request ran on box3: $out"
echo "served 24 requests from 4 clients across box2 and box3"

# A client whose key is not on the allow-list is refused (no reply).
if ip netns exec "${tag}box1" "$tessera" call health --endpoint tcp://10.77.0.1:5555 \
  --curve-server-key "$work/keys/box1.pub" --timeout-ms 1000 >/dev/null 2>&1; then
  fail "a client with an unknown key was served"
fi

# Each request's trace id follows it from the coordinator to the worker that ran
# it: box1 starts a trace of its own (box1-TICKET) beside the client's id; the
# workers log the same trace beside their own request id (the bridge's).
"${cluster[@]}" logs box1 -n 300 | grep -Eq "node=box1 request id=c[0-9]+ trace=box1-[0-9]+ op=infer" ||
  fail "box1's log does not start traces of its own"
for b in box2 box3; do
  lines=$("${cluster[@]}" logs "$b" -n 300 | grep -E "node=$b request .* op=infer") ||
    fail "$b logged no inference"
  awk '{ id = ""; t = ""
         for (i = 1; i <= NF; ++i) { if ($i ~ /^id=/) id = substr($i, 4); if ($i ~ /^trace=/) t = substr($i, 7) }
         if (id == t || t !~ /^box1-[0-9]+$/) bad = 1 }
       END { exit bad }' <<<"$lines" || fail "$b logged an inference without box1's trace id: $lines"
done
echo "logs: every inference on the workers carries the coordinator's trace id"

# Metrics (bash's /dev/tcp: no HTTP client needed in the namespace), through a
# real Prometheus parser: Debian's python3-prometheus-client, which setup.sh installs.
scrape() {
  ip netns exec "${tag}$1" bash -c \
    "exec 3<>/dev/tcp/$2/9464 && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3" | sed '1,/^\r\?$/d'
}
python=""
for p in /usr/bin/python3 python3; do
  "$p" -c 'import prometheus_client' 2>/dev/null && python=$p && break
done
[ -n "$python" ] || fail "python3-prometheus-client is not installed (deploy/setup.sh installs it)"
metrics=$(scrape box1 10.77.0.1) || fail "cannot scrape box1's metrics"
"$python" - "$metrics" <<'EOF' || fail "box1's metrics do not parse or do not show the requests"
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
fams = {f.name: f for f in parse(sys.argv[1])}
ok = sum(s.value for s in fams["tessera_requests"].samples
         if s.labels["operation"] == "infer" and s.labels["code"] == "ok")
assert ok == 24, ok
up = [s.value for s in fams["tessera_peer_up"].samples]
assert up == [1.0, 1.0], up
refused = [s.value for s in fams["tessera_curve_handshakes"].samples if s.labels["result"] == "refused"]
assert refused and refused[0] >= 1, refused
queued = [s.value for s in fams["tessera_scheduler_queued_jobs"].samples]
assert queued == [0.0], queued
EOF
# Each worker's loads: how long they took, and the bytes they read.
for b in 2 3; do
  metrics=$(scrape box$b 10.77.0.$b) || fail "cannot scrape box$b's metrics"
  "$python" - "$metrics" <<'EOF' || fail "box$b's metrics do not show its model loads"
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
fams = {f.name: f for f in parse(sys.argv[1])}
loads = sum(s.value for s in fams["tessera_model_load_duration_seconds"].samples
            if s.name.endswith("_count"))
assert loads >= 1, loads
read = sum(s.value for s in fams["tessera_model_load_bytes"].samples if s.labels["sharing"] == "unshared")
assert read > 0, read
EOF
done
echo "metrics parse with prometheus_client: requests, peers, queue, and the workers' loads"

# tessera top, once, over all three nodes (each with its own CURVE key).
top=(ip netns exec "${tag}box1" "$tessera" top --count 1 --curve-key "$work/keys/client.key")
for b in 1 2 3; do
  top+=(--endpoint "tcp://10.77.0.$b:5555" --curve-server-key "$work/keys/box$b.pub")
done
view=$("${top[@]}") || fail "tessera top: a node did not answer: $view"
echo "$view"
for b in box1 box2 box3; do
  grep -Eq "^$b +up +[0-9]+ +[0-9]+ +[0-9]+ " <<<"$view" || fail "top does not show $b up with its queue: $view"
done
grep -Eq "^  box2/cpu/0 +[1-9][0-9]* .*resnet18:1" <<<"$view" ||
  fail "top does not show box2's executor with resnet18 resident: $view"

# --- rolling restart while a client keeps sending
("${client[@]}" --count 40 >"$work/during-restart.txt" 2>&1; echo $? >"$work/during-restart.rc") &
loader=$!
"${cluster[@]}" rolling-restart --workers || fail "rolling restart"
wait $loader
grep -c "^request" "$work/during-restart.txt" | grep -qx 40 || fail "the client stopped during the restart"
[ "$(cat "$work/during-restart.rc")" = 0 ] ||
  fail "requests failed during the rolling restart: $(grep -A1 error "$work/during-restart.txt" | head)"
echo "rolling restart: 40 requests, none failed"
"${cluster[@]}" logs box2 -n 5 | grep -q "tessera node box2 serving" || fail "logs do not show box2's node"

# --- kill box3's node: the cluster keeps serving on box2
kill -9 "$(cat "$work/install/box3/run/node.pid")"
out=$("${client[@]}" --count 4 2>&1) || fail "requests failed after box3 died: $out"
grep -q "executor = .* box3/" <<<"$out" && fail "a request ran on dead box3"
status=$("${cluster[@]}" status 2>&1) && fail "status did not report box3 down"
grep -q "^box3 .*DOWN" <<<"$status" || fail "status does not show box3 down: $status"
view=$("${top[@]}") && fail "tessera top exited 0 with box3 down: $view"
grep -Eq "^tcp://10.77.0.3:5555 +DOWN" <<<"$view" || fail "top does not show box3 down: $view"
grep -Eq "^box2 +up " <<<"$view" || fail "top does not show box2 up after box3 died: $view"
echo "box3 killed: 4 more requests served by box2"

"${cluster[@]}" down >/dev/null
[ -z "$(ip netns pids "${tag}box2")" ] || fail "down left box2's node running"
echo "PASS"
