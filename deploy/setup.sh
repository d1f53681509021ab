#!/usr/bin/env bash
# Installs Tessera's dependencies from Debian's packages and builds into build/.
# Safe to run again: apt-get skips what is installed, CMake and ccache rebuild only what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libcaf-dev                      # actors (CAF 0.17)
  libtorch-dev                    # LibTorch (CPU build on Debian)
  libopenblas0-pthread            # LibTorch's matmuls use libblas.so.3; netlib's is ~14x slower
  libzmq3-dev cppzmq-dev          # ZeroMQ and its C++ binding
  libmsgpack-cxx-dev              # wire encoding
  doctest-dev                     # tests
  libcli11-dev                    # command line
  libtomlplusplus-dev             # config files
  libspdlog-dev libfmt-dev        # logs
  libxxhash-dev                   # content ids (xxh3-128)
  nlohmann-json3-dev              # model manifests
  libcpp-httplib-dev              # metrics endpoint
  python3-zmq python3-msgpack     # Python client (deploy/clients/python)
  python3-prometheus-client       # tests parse /metrics with a real Prometheus parser
  python3-torch                   # the exporter from nn.Module (deploy/clients/python/tessera_export.py)
  iproute2 rsync openssh-client   # deploy/tessera-cluster and the multi-host test (ip netns)
  gnuplot-nox                     # tessera sim plots (skipped with a note when absent)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${TESSERA_SKIP_BUILD:-0}" = 1 ]; then exit 0; fi

build_type=${TESSERA_BUILD_TYPE:-RelWithDebInfo}
export CCACHE_DIR=${CCACHE_DIR:-$root/.cache/ccache}
cmake -S "$root" -B "$root/build" -G Ninja \
  -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  ${TESSERA_CMAKE_ARGS:-} >/dev/null
cmake --build "$root/build" -j"$(nproc)"
