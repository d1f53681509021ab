#!/usr/bin/env bash
# `tessera status --endpoint` against a running node that streams a model
# twice its device budget: the table names the streamed runs, and --json
# carries the figures per block and in total (docs/swapping.md, "Serving").
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d "${TESSERA_TEST_TMP:-/tmp}/status-endpoint.XXXXXX")
node_pid=""
cleanup() {
  [[ -n "$node_pid" ]] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [[ -f "$work/node.log" ]] && tail -5 "$work/node.log"; exit 1; }

"$bin" --store "$work/store" zoo --scale 0.3 --family resnet >/dev/null
port=$((20000 + RANDOM % 20000))
endpoint="tcp://127.0.0.1:$port"
# resnet18 at scale 0.3 is 4.2 MB: a 2 MiB device cannot hold it, so it streams.
"$bin" --store "$work/store" --set device_budget_bytes=2097152 --set torch_threads=1 \
  node --listen "$endpoint" >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  "$bin" call health --endpoint "$endpoint" --timeout-ms 500 >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin" infer --endpoint "$endpoint" --model resnet18 --count 2 --timeout-ms 20000 >/dev/null ||
  fail "the node did not serve resnet18"
table=$("$bin" status --endpoint "$endpoint" --timeout-ms 5000) || fail "status --endpoint failed"
grep -q "streamed: resnet18:1" <<<"$table" || fail "no streamed unit in: $table"
grep -Eq "^  runs \(failed\) +2 \(0\)$" <<<"$table" || fail "no runs row in: $table"
grep -q "bytes copied" <<<"$table" || fail "no copies row in: $table"
json=$("$bin" status --endpoint "$endpoint" --json --timeout-ms 5000) || fail "status --json failed"
python3 - "$json" <<'PY' || fail "bad JSON figures: $json"
import json, sys
e = json.loads(sys.argv[1])["executors"][0]
s = e["stream"]
assert s["runs"] == 2 and s["failed_runs"] == 0, s
assert s["blocks"] > 0 and s["bytes_read"] > 0 and s["blobs_read"] > 0, s
assert s["copies"] == 0 and s["bytes_copied"] == 0, s  # a CPU arena is read into directly
assert abs(s["per_block"]["bytes_read"] - s["bytes_read"] / s["blocks"]) < 1e-6, s
assert 0 < s["last_share_bytes"] <= s["budget_bytes"] < 2097152, s
PY
if "$bin" status --endpoint "$endpoint" --blobs >/dev/null 2>&1; then
  fail "--blobs with --endpoint was accepted"
fi
echo "PASS: $(grep -E '^  (runs|bytes read)' <<<"$table" | tr -s ' ' | paste -sd';')"
