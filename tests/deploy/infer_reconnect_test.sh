#!/usr/bin/env bash
# `tessera infer --retry-on-reconnect` against a node killed (SIGKILL) and
# restarted on the same port while requests run: every request is answered
# ok, the one in flight at the kill by the restarted node (docs/cluster.md,
# "Requests in flight when a coordinator dies").
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
node_pid=
infer_pid=
cleanup() {
  [ -n "$node_pid" ] && kill -9 "$node_pid" 2>/dev/null || true
  [ -n "$infer_pid" ] && kill -9 "$infer_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" -s "$work/store" zoo --scale 0.05 --family mobilenet >/dev/null
port=$((20000 + RANDOM % 20000))
start_node() {
  "$bin" -s "$work/store" --set "listen=tcp://127.0.0.1:$port" --set log_level=warn node \
    >>"$work/node.log" 2>&1 &
  node_pid=$!
  for _ in $(seq 100); do
    "$bin" call health --endpoint "tcp://127.0.0.1:$port" --timeout-ms 200 >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "FAIL: the node did not come up"; cat "$work/node.log"; exit 1
}
start_node
"$bin" infer --endpoint "tcp://127.0.0.1:$port" --retry-on-reconnect --timeout-ms 20000 \
  --model mobilenetv2 --count 400 >"$work/infer.log" 2>&1 &
infer_pid=$!
# Kill the node while requests run (after the first answers), then restart it.
for _ in $(seq 100); do
  grep -q "^request 20:" "$work/infer.log" && break
  sleep 0.05
done
kill -9 "$node_pid"
wait "$node_pid" 2>/dev/null || true
start_node
if ! wait "$infer_pid"; then
  infer_pid=
  echo "FAIL: some request failed"; grep -B1 "error" "$work/infer.log" | head; exit 1
fi
infer_pid=
answered=$(grep -c "^request " "$work/infer.log")
[ "$answered" -eq 400 ] || { echo "FAIL: $answered of 400 requests reported"; exit 1; }
echo "PASS: 400 of 400 answered ok across a node restart"
