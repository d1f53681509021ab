#!/usr/bin/env bash
# `tessera zoo --list` prints every model's whole name in the headers of the
# shared-bytes table (they were cut to 14 characters, so two models could show
# the same header).
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" -s "$work/store" zoo --scale 0.05 --family mobilenet >/dev/null
out=$("$bin" -s "$work/store" zoo --list)
header=$(grep -E '^mobilenet +mobilenet' <<<"$out" || true)
for name in mobilenet-birds mobilenet-scratch mobilenetv2; do
  grep -qw -- "$name" <<<"$header" || { echo "FAIL: the header lacks $name whole: $header"; exit 1; }
done
echo "PASS: $header"
