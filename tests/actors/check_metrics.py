"""Checks two scrapes of a node's /metrics with prometheus_client's parser.

  check_metrics.py BEFORE AFTER EXPECTATIONS.json

Both scrapes must parse, and every family must have HELP text and a counter,
gauge or histogram TYPE. Each expectation, {"sample", "labels", "op", "value"},
is checked on AFTER: op "==" or ">=" compares the sample's value, "delta"
compares AFTER minus BEFORE (a sample missing from BEFORE counts as 0). Prints
one line per failure and exits 1 when any failed.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def samples(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        families = list(text_string_to_metric_families(f.read()))
    problems = []
    for fam in families:
        if not fam.documentation:
            problems.append(f"{fam.name}: no HELP text")
        if fam.type not in ("counter", "gauge", "histogram"):
            problems.append(f"{fam.name}: type {fam.type}")
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out, problems


def main():
    before, _ = samples(sys.argv[1])
    after, problems = samples(sys.argv[2])
    with open(sys.argv[3], encoding="utf-8") as f:
        expectations = json.load(f)
    for e in expectations:
        key = (e["sample"], tuple(sorted(e.get("labels", {}).items())))
        if key not in after:
            problems.append(f"{e['sample']}{e.get('labels', {})}: missing")
            continue
        value = after[key]
        if e["op"] == "delta":
            value -= before.get(key, 0.0)
            ok = value == e["value"]
        elif e["op"] == ">=":
            ok = value >= e["value"]
        else:
            ok = value == e["value"]
        if not ok:
            problems.append(f"{e['sample']}{e.get('labels', {})}: {value} is not {e['op']} {e['value']}")
    for p in problems:
        print(p)
    print(f"{len(expectations)} expectations, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
