#!/usr/bin/env bash
# `tessera run` takes an input from a .npy file as from raw bytes, and writes
# whole outputs as .npy: the same input in either form gives the same output
# file, and a .npy of the wrong shape is refused, naming both shapes.
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" -s "$work/store" zoo --scale 0.05 --family mobilenet >/dev/null
# A .npy header as NumPy writes it, for float32 of the given shape text.
npy() { # npy SHAPE_TEXT DATA_FILE OUT
  local header="{'descr': '<f4', 'fortran_order': False, 'shape': $1, }"
  local total=$((10 + ${#header} + 1))
  local pad=$(((64 - total % 64) % 64))
  header="$header$(printf '%*s' "$pad" '')"
  local len=$((${#header} + 1))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
    printf '%s\n' "$header"
    cat "$2"
  } >"$3"
}
head -c $((2 * 3 * 224 * 224 * 4)) /dev/urandom >"$work/raw.bin"
npy "(2, 3, 224, 224)" "$work/raw.bin" "$work/in.npy"
"$bin" -s "$work/store" run -m mobilenetv2 -i "image=$work/raw.bin" -o "$work/from_raw.npy" >/dev/null
"$bin" -s "$work/store" run -m mobilenetv2 -i "image=$work/in.npy" -o "logits=$work/from_npy.npy" >/dev/null
cmp "$work/from_raw.npy" "$work/from_npy.npy" || { echo "FAIL: the outputs differ"; exit 1; }
head -c 6 "$work/from_npy.npy" | grep -q NUMPY || { echo "FAIL: the output is not .npy"; exit 1; }
grep -aq "'shape': (2, " "$work/from_npy.npy" || { echo "FAIL: the output's batch is not 2"; exit 1; }
npy "(2, 224, 224, 3)" "$work/raw.bin" "$work/nhwc.npy"
if out=$("$bin" -s "$work/store" run -m mobilenetv2 -i "image=$work/nhwc.npy" 2>&1); then
  echo "FAIL: a .npy of the wrong layout ran"
  exit 1
fi
grep -qF "holds float32[2,224,224,3], the model takes float32[-1,3,224,224]" <<<"$out" ||
  { echo "FAIL: $out"; exit 1; }
echo "PASS: run --input .npy and --output"
