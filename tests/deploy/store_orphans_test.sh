#!/usr/bin/env bash
# `tessera store verify` lists the blobs that no stored model version uses: none
# in a fresh zoo, and a removed model's own blobs once its manifest is gone
# (its blobs shared with other models are still used, so not listed).
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" -s "$work/store" zoo --scale 0.05 --family mobilenet >/dev/null
out=$("$bin" -s "$work/store" store verify 2>/dev/null)
grep -q ", 0 corrupt, 0 orphan" <<<"$out" || { echo "FAIL: a fresh zoo has orphans: $out"; exit 1; }
rm -r "$work/store/models/mobilenet-scratch" # nothing shares its weights
out=$("$bin" -s "$work/store" store verify 2>/dev/null)
n=$(grep -c "^ORPHAN " <<<"$out" || true)
[ "$n" -gt 0 ] || { echo "FAIL: no orphan listed: $out"; exit 1; }
grep -q ", 0 corrupt, $n orphan" <<<"$out" || { echo "FAIL: the summary disagrees: $out"; exit 1; }
rm -r "$work/store/models/mobilenet-cars" # shares its backbone with the others
out2=$("$bin" -s "$work/store" store verify 2>/dev/null)
m=$(grep -c "^ORPHAN " <<<"$out2" || true)
[ "$m" -gt "$n" ] || { echo "FAIL: mobilenet-cars' own blobs not listed"; exit 1; }
total=$(ls "$work"/store/blobs/*/* | wc -l)
[ "$m" -lt "$total" ] || { echo "FAIL: shared blobs listed as orphans"; exit 1; }
echo "PASS: $n, then $m orphans of $total blobs"
