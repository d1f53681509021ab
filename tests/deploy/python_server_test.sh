#!/usr/bin/env bash
# The Python baseline server of `tessera bench serve`
# (deploy/baselines/python_server.py) against the project's own Python
# client: two exported zoo models, one budget that holds either but not both;
# see tests/deploy/python/python_server_test.py.
set -euo pipefail
bin=${1:?tessera binary}
if ! /usr/bin/python3 -c 'import torch, zmq, msgpack' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks torch, zmq or msgpack"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" -s "$work/store" zoo --scale 0.05 --family mobilenet >/dev/null
mkdir "$work/whole"
for m in mobilenet-cars mobilenet-birds; do
  "$bin" -s "$work/store" models --show "$m:1" --export "$work/whole/$m-v1.pt" >/dev/null
done
TESSERA_TEST_TMP="$work" /usr/bin/python3 "$(dirname "$0")/python/python_server_test.py" \
  "$work/store" "$work/whole" mobilenet-cars mobilenet-birds
