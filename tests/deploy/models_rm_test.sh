#!/usr/bin/env bash
# Removing models from a store (issue 23): `tessera models rm` removes a model
# and the blobs only it used, and refuses while a fused group names it or a
# running node holds it, saying which; `tessera store gc` removes what no
# model version uses, and waits for no import; an import that fails removes
# what it wrote; a stored version is never replaced by other contents.
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
node_pid=
cleanup() {
  [ -n "$node_pid" ] && kill -9 "$node_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
t="$bin -s $work/store"
expect() { # expect TEXT COMMAND...: the command fails and says TEXT
  local text=$1 out
  shift
  if out=$("$@" 2>&1); then fail "succeeded: $*"; fi
  grep -qF -- "$text" <<<"$out" || fail "$* said: $out (expected: $text)"
}
orphans() { $t store verify 2>/dev/null | sed -n 's/.* corrupt, \([0-9]*\) orphan.*/\1/p'; }
count() { find "$work/store/$1" -type f | wc -l; }

$t zoo --scale 0.05 --family resnet >/dev/null 2>&1
$t store gc | grep -q '^removed 0 blobs' || fail "gc removed something from a fresh zoo"

# A model with blobs of its own: they go with it, and nothing is left orphan.
blobs=$(count blobs)
$t models rm resnet-scratch | grep -q '^removed resnet-scratch:1' || fail "rm said otherwise"
[ "$(count blobs)" -lt "$blobs" ] || fail "rm left resnet-scratch's blobs"
[ "$(orphans)" = 0 ] || fail "rm left orphans"
expect 'no model named "resnet-scratch"' $t models --show resnet-scratch
$t run -m resnet18 >/dev/null || fail "resnet18 no longer runs after removing resnet-scratch"

# A fused group holds its members.
$t fuse heads resnet18 resnet-cars >/dev/null
expect "fused group heads uses resnet18:1" $t models rm resnet18
$t fuse --remove heads >/dev/null

# A version is never replaced by other contents; the failed import removes the
# skeletons it wrote (its blobs are the zoo's own).
$t models --show resnet18 --export "$work/r18.pt" >/dev/null
skeletons=$(count skeletons)
expect "resnet-cars:1 is stored already" $t import "$work/r18.pt" --name resnet-cars \
  --input image:FP32:-1x3x224x224 --max-block-mb 0.05
[ "$(count skeletons)" = "$skeletons" ] || fail "the failed import left skeletons behind"
[ "$(orphans)" = 0 ] || fail "the failed import left orphans"

# gc waits for no import: while one holds the store, it refuses.
flock -s "$work/store/gc.lock" sleep 3 &
sleep 0.3
expect "an import or a zoo build is writing" $t store gc
wait

# A manifest removed by hand leaves orphans; gc takes them.
rm "$work/store/models/resnet-birds/1.json"
[ "$(orphans)" -gt 0 ] || fail "no orphans after a manifest went"
$t store gc | grep -q '^removed [1-9]' || fail "gc removed nothing"
[ "$(orphans)" = 0 ] || fail "gc left orphans"

# A running node that holds the model: rm refuses, naming it, until unloaded.
port=$((20000 + RANDOM % 20000))
$t --set "listen=tcp://127.0.0.1:$port" --set log_level=warn node >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  "$bin" call health --endpoint "tcp://127.0.0.1:$port" --timeout-ms 200 >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin" call load --endpoint "tcp://127.0.0.1:$port" --model resnet-cars >/dev/null
expect "resnet-cars is ready on node" $t models rm resnet-cars
"$bin" call unload --endpoint "tcp://127.0.0.1:$port" --model resnet-cars >/dev/null
$t models rm resnet-cars | grep -q '^removed resnet-cars:1' || fail "rm after unload failed"
kill "$node_pid"
wait "$node_pid" 2>/dev/null || true
node_pid=
[ -z "$(ls -A "$work/store/serving" 2>/dev/null)" ] || fail "the stopped node left its record"
echo "PASS: models rm and store gc"
