#!/usr/bin/env bash
# The exporter from nn.Module (deploy/clients/python/tessera_export.py), with
# Debian's python3-torch: see tests/deploy/python/export_test.py.
set -euo pipefail
bin=${1:?tessera binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$(dirname "$0")/python/export_test.py" "$bin" "$work"
