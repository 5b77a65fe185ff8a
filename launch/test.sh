#!/usr/bin/env bash
# Runs every test of lowbit: installs what is missing (launch/setup.sh), configures, builds, runs ctest.
# Usage: launch/test.sh [extra ctest arguments]      (BUILD_DIR=... to build elsewhere than ./build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"

bash "$root/launch/setup.sh"
start=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs"
echo "[test] built in $(( $(date +%s) - start )) s"
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
