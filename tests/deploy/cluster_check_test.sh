#!/usr/bin/env bash
# `tessera cluster check` refuses a cluster file with a bad field, naming it,
# and exits non-zero; the same file with the field fixed passes.
set -euo pipefail
src=${1:?source dir}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed 's/^ssh_port = 2222$/ssh_port = 0/' "$src/deploy/cluster.example.toml" >"$work/bad.toml"
grep -q "^ssh_port = 0" "$work/bad.toml" || { echo "FAIL: the example has no ssh_port = 2222 to break"; exit 1; }
if out=$("$TESSERA_BIN" cluster check "$work/bad.toml" 2>&1); then
  echo "FAIL: a bad cluster file passed: $out"
  exit 1
fi
grep -q "boxes\[2\].ssh_port: 0 is not in 1-65535" <<<"$out" || { echo "FAIL: the error does not name the field: $out"; exit 1; }
"$TESSERA_BIN" cluster check "$src/deploy/cluster.example.toml" >/dev/null
echo "PASS: $out"
