#!/usr/bin/env bash
# `tessera import` tells a user what it needs, in its own words: the options a
# file import needs, shapes parsed strictly with the batch first, dtypes in
# either spelling and any case, a stage folder without dag.json pointed to the
# format, which `import --help` shows.
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
expect() { # expect TEXT COMMAND...: the command fails and says TEXT
  local text=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    echo "FAIL: succeeded: $*"
    fails=$((fails + 1))
  elif ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL: $* said: $out (expected: $text)"
    fails=$((fails + 1))
  fi
}
t="$bin -s $work/store import"
expect "needs --name and --input" $t "$work/model.pt"
expect "needs --input" $t "$work/model.pt" --name m
expect "needs --name, e.g." $t "$work/model.pt" --input x:float32:-1x4
# Shapes: every dimension whole, the batch first; commas or x between them.
expect 'dimension "224y"' $t "$work/model.pt" --name m --input image:float32:1,3,224y
expect 'dimension "-1x3"' $t "$work/model.pt" --name m --input "image:float32:-1x3,224"
expect "only the batch dimension" $t "$work/model.pt" --name m --input image:float32:1x-1x4
expect "at least one more" $t "$work/model.pt" --name m --input image:float32:-1
expect 'unknown dtype "float33"' $t "$work/model.pt" --name m --input image:float33:-1x4
# FP32, fp32 and 1,3,224,224 are taken: the import gets as far as the file.
for spec in image:FP32:1,3,224,224 image:fp32:-1x3x224x224 image:Float32:1x3x224x224; do
  expect "model.pt: no such file" $t "$work/model.pt" --name m --input "$spec"
done
# A file that is not TorchScript is named as such, not as a library's message.
echo "not a model" >"$work/text.pt"
expect "not a TorchScript file" $t "$work/text.pt" --name m --input image:fp32:-1x4
# A name the store would refuse is refused first.
expect 'model name "my model"' $t "$work/model.pt" --name "my model" --input image:fp32:-1x4
# A folder of stages without dag.json says where the format is.
mkdir -p "$work/stages"
expect "has no dag.json" $t "$work/stages"
expect "tessera import --help" $t "$work/stages"
help=$("$bin" import --help 2>&1)
for text in '"stages"' '"from"' "needs --name and one --input"; do
  grep -qF -- "$text" <<<"$help" || { echo "FAIL: import --help lacks $text"; fails=$((fails + 1)); }
done
# Nothing above wrote a blob.
if [ -d "$work/store/blobs" ] && [ -n "$(find "$work/store/blobs" -type f)" ]; then
  echo "FAIL: a refused import left blobs behind"
  fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] && echo "PASS: import messages"
exit "$fails"
