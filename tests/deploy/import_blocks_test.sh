#!/usr/bin/env bash
# A user's whole TorchScript file imports cut into blocks: `tessera models
# --export` writes zoo models as single files (laid out as torch.jit.script
# lays a model out), `tessera import` cuts them, and the imported models answer
# bit for bit as the zoo models do; fine-tunes share whole blocks, and
# --blocks 1 keeps one block.
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
zoo="$bin -s $work/zoo"
$zoo zoo --scale 0.25 --family resnet >/dev/null
for m in resnet18 resnet-ft; do
  $zoo models --show $m --export "$work/$m.pt" >/dev/null
done
mine="$bin -s $work/mine"
# At scale 0.25 the models have a sixteenth of their bytes: so has the block size.
$mine import "$work/resnet18.pt" --name my-base --input image:FP32:-1x3x224x224 \
  --max-block-mb 0.25 >"$work/base.txt"
$mine import "$work/resnet-ft.pt" --name my-ft --input image:fp32:-1,3,224,224 \
  --max-block-mb 0.25 >"$work/ft.txt"
blocks=$(sed -n 's/^imported my-base:1: \([0-9]*\) block(s).*/\1/p' "$work/base.txt")
[ "${blocks:-0}" -ge 8 ] || fail "resnet18 was cut into ${blocks:-no} blocks: $(cat "$work/base.txt")"
grep -q '^  block .* from .*, ' "$work/base.txt" || fail "no block takes two inputs (a shortcut)"
# Same input, same bytes out: the zoo model and its imported file.
head -c $((2 * 3 * 224 * 224 * 4)) /dev/urandom >"$work/in.bin"
for pair in resnet18:my-base resnet-ft:my-ft; do
  $zoo run -m "${pair%%:*}" -i "image=$work/in.bin" -o "$work/zoo.npy" >/dev/null
  $mine run -m "${pair##*:}" -i "image=$work/in.bin" -o "$work/mine.npy" >/dev/null
  cmp -s "$work/zoo.npy" "$work/mine.npy" || fail "${pair##*:} answers other bytes than ${pair%%:*}"
done
# Fine-tunes of one architecture cut alike (the auto_blocks suite checks that
# they share whole blocks).
base_blocks=$(sed -n 's/^  block \([^ ]*\) .*/\1/p' "$work/base.txt")
ft_blocks=$(sed -n 's/^  block \([^ ]*\) .*/\1/p' "$work/ft.txt")
[ "$base_blocks" = "$ft_blocks" ] || fail "the fine-tune was cut otherwise"
$mine import "$work/resnet18.pt" --name my-whole --blocks 1 --input image:FP32:-1x3x224x224 \
  | grep -q '^imported my-whole:1: 1 block(s)' || fail "--blocks 1 did not keep one block"
echo "PASS: import with automatic blocks"
