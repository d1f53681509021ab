#!/usr/bin/env bash
# One command from a fresh machine to answers: installs and builds Tessera,
# makes the built-in model zoo, starts a 3-node local cluster (a coordinator
# and two workers on loopback), sends it sample requests with the command-line
# client, and prints what came back.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/deploy/setup.sh"
tessera="$root/build/tessera"
export TESSERA_STORE_PATH=${TESSERA_STORE_PATH:-$root/tessera-store}
export TESSERA_BASE_PORT=${TESSERA_BASE_PORT:-5555}
endpoint=tcp://127.0.0.1:$TESSERA_BASE_PORT

echo "== building the model zoo into $TESSERA_STORE_PATH"
"$tessera" zoo
"$tessera" zoo --list

echo
echo "== starting a local cluster: a coordinator on $endpoint and two workers"
trap '"$root/deploy/local-cluster.sh" stop' EXIT
"$root/deploy/local-cluster.sh" 3
"$tessera" call health --endpoint "$endpoint"

echo
echo "== sample requests (models of one family reuse each other's resident blocks;"
echo "   'executor' names the worker that ran each one)"
for model in resnet18 resnet-cars mobilenetv2 mobilenet-birds vit-tiny vit-ft resnet18; do
  echo "-- $model"
  "$tessera" infer --endpoint "$endpoint" --model "$model"
done
echo "-- a model that does not exist (the node answers with an error)"
"$tessera" infer --endpoint "$endpoint" --model no-such-model || true

echo
echo "== cluster status, as the coordinator sees it"
"$tessera" call status --endpoint "$endpoint"
"$tessera" call models --endpoint "$endpoint"
