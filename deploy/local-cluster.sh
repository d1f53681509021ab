#!/usr/bin/env bash
# Starts N Tessera nodes on loopback: one coordinator (the gateway clients use,
# with the scheduler and no executors of its own) and N-1 workers it schedules
# onto. Logs and pids go under .cache/local-cluster/.
#   deploy/local-cluster.sh 3          start 3 nodes; prints the client endpoint
#   deploy/local-cluster.sh stop       stop them (SIGINT: in-flight work is answered)
# Settings: TESSERA_STORE_PATH (default ./tessera-store), TESSERA_BASE_PORT (5555).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tessera=${TESSERA_BIN:-$root/build/tessera}
state=$root/.cache/local-cluster
base=${TESSERA_BASE_PORT:-5555}
export TESSERA_STORE_PATH=${TESSERA_STORE_PATH:-$root/tessera-store}

stop_all() {
  [ -d "$state" ] || return 0
  for f in "$state"/*.pid; do
    [ -e "$f" ] || continue
    kill -INT "$(cat "$f")" 2>/dev/null || true
  done
  for f in "$state"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
}

wait_healthy() {
  for _ in $(seq 1 100); do
    "$tessera" call health --endpoint "$1" --timeout-ms 200 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "node at $1 did not come up; see $state" >&2
  return 1
}

if [ "${1:-}" = "stop" ]; then
  stop_all
  exit 0
fi
n=${1:-3}
if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 2 ]; then
  echo "usage: $0 N (N >= 2) | stop" >&2
  exit 2
fi
stop_all
mkdir -p "$state"
peers=""
for i in $(seq 1 $((n - 1))); do
  endpoint="tcp://127.0.0.1:$((base + i))"
  "$tessera" --set node_name=worker$i node --listen "$endpoint" >"$state/worker$i.log" 2>&1 &
  echo $! >"$state/worker$i.pid"
  peers="${peers:+$peers,}$endpoint"
done
coordinator="tcp://127.0.0.1:$base"
"$tessera" --set node_name=coordinator --set executors=0 --set "peers=$peers" \
  node --listen "$coordinator" >"$state/coordinator.log" 2>&1 &
echo $! >"$state/coordinator.pid"
for i in $(seq 1 $((n - 1))); do wait_healthy "tcp://127.0.0.1:$((base + i))"; done
wait_healthy "$coordinator"
echo "$n nodes up; clients use $coordinator (logs in $state)"
