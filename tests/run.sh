#!/usr/bin/env bash
# Installs what Tessera needs, builds it, and runs every test suite through CTest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/deploy/setup.sh"
cd "$root/build"
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
