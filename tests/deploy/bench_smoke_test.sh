#!/usr/bin/env bash
# Every `tessera bench` subcommand in its --quick form: each must exit 0 and
# end with its JSON line, naming itself and holding metrics (bench cuda, on a
# machine without a GPU, says why it skipped instead). The figures of a quick
# run are not read; docs/benchmarks.md's runs are the measurements.
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in load import sharing rpc schedule overload tenancy tiers fusion cuda swap sim serve; do
  start=$(date +%s)
  rc=0
  out=$("$bin" bench "$name" --quick --json --work-dir "$work" 2>"$work/stderr") || rc=$?
  last=$(tail -1 <<<"$out")
  if [ "$rc" -ne 0 ] || ! grep -q "^{\"bench\": \"$name\", \"metrics\": {" <<<"$last"; then
    echo "FAIL: bench $name --quick (exit $rc)"
    tail -20 <<<"$out"
    tail -20 "$work/stderr"
    exit 1
  fi
  if ! grep -q '"metrics": {"' <<<"$last" && ! grep -q '"skipped": ' <<<"$last"; then
    echo "FAIL: bench $name reported no metrics and no reason: $last"
    exit 1
  fi
  echo "ok: bench $name in $(( $(date +%s) - start )) s"
done
echo "PASS"
