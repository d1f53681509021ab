#!/usr/bin/env bash
# One command from a fresh machine to answers: installs and builds Tessera,
# makes the built-in model zoo, starts a node that serves it over ZeroMQ, sends
# it sample requests with the command-line client, and prints what came back.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/deploy/setup.sh"
tessera="$root/build/tessera"
export TESSERA_STORE_PATH=${TESSERA_STORE_PATH:-$root/tessera-store}
endpoint=${TESSERA_QUICKSTART_ENDPOINT:-tcp://127.0.0.1:5555}

echo "== building the model zoo into $TESSERA_STORE_PATH"
"$tessera" zoo
"$tessera" zoo --list

echo
echo "== starting a node on $endpoint"
"$tessera" node --listen "$endpoint" &
node_pid=$!
trap 'kill -INT $node_pid 2>/dev/null || true; wait $node_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  "$tessera" call health --endpoint "$endpoint" --timeout-ms 200 >/dev/null 2>&1 && break
  sleep 0.1
done
"$tessera" call health --endpoint "$endpoint"

echo
echo "== sample requests (models of one family reuse each other's resident blocks)"
for model in resnet18 resnet-cars mobilenetv2 mobilenet-birds vit-tiny vit-ft resnet18; do
  echo "-- $model"
  "$tessera" infer --endpoint "$endpoint" --model "$model"
done
echo "-- a model that does not exist (the node answers with an error)"
"$tessera" infer --endpoint "$endpoint" --model no-such-model || true

echo
echo "== node status"
"$tessera" call status --endpoint "$endpoint"
"$tessera" call models --endpoint "$endpoint"
