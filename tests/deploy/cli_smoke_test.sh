#!/usr/bin/env bash
# Every everyday command through the binary, on a small store: each must exit
# 0 and print what it is for (a phrase checked below), so that a command that
# breaks, or stops saying what it did, fails here. (bench subcommands are
# measured by docs/benchmarks.md's runs, not here.)
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
st=(-s "$work/store")
# expect PHRASE COMMAND...: runs the command, fails unless it exits 0 and its
# output holds PHRASE.
expect() {
  local phrase=$1
  shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAIL: exit $rc from: $*"
    echo "$out" | tail -20
    exit 1
  fi
  if ! grep -qF -- "$phrase" <<<"$out"; then
    echo "FAIL: no \"$phrase\" in the output of: $*"
    echo "$out" | tail -20
    exit 1
  fi
  echo "ok: $*"
}

expect "device_budget_bytes" "$bin" "${st[@]}" config
expect "mobilenetv2" "$bin" "${st[@]}" zoo --scale 0.05 --family mobilenet
expect "mobilenet-cars" "$bin" "${st[@]}" zoo --list
expect "mobilenetv2" "$bin" "${st[@]}" models
expect "image" "$bin" "${st[@]}" models --show mobilenetv2
expect "logits" "$bin" "${st[@]}" run --model mobilenetv2
expect "smoke-pair" "$bin" "${st[@]}" fuse smoke-pair mobilenetv2 mobilenet-cars
expect "smoke-pair" "$bin" "${st[@]}" fuse --list
expect "logits" "$bin" "${st[@]}" run --group smoke-pair
"$bin" "${st[@]}" models --show mobilenet-birds --export "$work/birds.pt" >/dev/null
expect "smoke-birds" "$bin" "${st[@]}" import "$work/birds.pt" --name smoke-birds \
  --input image:float32:-1x3x224x224
expect "float32[1,200] checksum" "$bin" "${st[@]}" run --model smoke-birds
# The imported file answers as the model it was exported from, bit for bit.
sum_of() { "$bin" "${st[@]}" run --model "$1" --seed 9 | grep -o 'checksum [0-9a-f]*'; }
[ "$(sum_of smoke-birds)" = "$(sum_of mobilenet-birds)" ] ||
  { echo "FAIL: smoke-birds and mobilenet-birds answer differently"; exit 1; }
echo "ok: the imported model answers as its source"
expect "0 corrupt" "$bin" "${st[@]}" store verify
expect "device" "$bin" "${st[@]}" status
expect "2 requests, 0 answered with an error" "$bin" "${st[@]}" demo --models mobilenetv2 mobilenet-cars
expect "smoke-node" "$bin" keys gen --out "$work" --name smoke-node
public=$("$bin" keys public "$work/smoke-node.key")
# The .pub file holds a comment line, then the key.
[ "$public" = "$(grep -v '^#' "$work/smoke-node.pub")" ] || { echo "FAIL: keys public gave $public"; exit 1; }
echo "ok: keys public"
cat >"$work/tiny.toml" <<'TOML'
seed = 1
[nodes]
count = 2
[workload]
rate_per_s = 20.0
requests = 200
TOML
expect "met" "$bin" sim "$work/tiny.toml" --out "$work/sim-out" --quiet --no-plots
echo "PASS"
