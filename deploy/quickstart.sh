#!/usr/bin/env bash
# One command from a fresh machine to answers: installs and builds Tessera,
# makes the built-in model zoo, serves it in this process and sends it sample
# requests, printing what came back. (The multi-node cluster comes with the node.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/deploy/setup.sh"
tessera="$root/build/tessera"
export TESSERA_STORE_PATH=${TESSERA_STORE_PATH:-$root/tessera-store}

echo "== building the model zoo into $TESSERA_STORE_PATH"
"$tessera" zoo
"$tessera" zoo --list

echo
echo "== serving the zoo and sending sample requests"
"$tessera" demo
