#!/usr/bin/env bash
# Runs every test of lowbit: installs what is missing (launch/setup.sh), configures, builds, runs ctest;
# then the sanitizer job (docs/reliability.md, "Fuzzing and sanitizers"): a clang ASan + UBSan build
# (./build-fuzz) runs the unit tests, most model tests (launch/sanitize_tests.sh says which) and the
# fuzz replays, and each fuzz target runs for FUZZ_SECONDS (default 20) from its seeds; any sanitizer
# report, crash, hang or leak fails.
# Usage: launch/test.sh [extra ctest arguments, for the main ctest]
#   BUILD_DIR=...              build elsewhere than ./build
#   SANITIZE_BUILD_DIR=...     the sanitizer/fuzz build elsewhere than ./build-fuzz
#   LOWBIT_SKIP_SANITIZERS=1   skip the sanitizer job (quick local runs)
#   FUZZ_SECONDS=N             seconds per fuzz target in the sanitizer job (default 20)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"

bash "$root/launch/setup.sh"
# Two test processes share the 2 cores, each with libtorch's OpenMP threads: busy-waiting threads
# then steal the other's cores (a Python reference generator beside another: 124 s -> 49 s with
# passive waiting). Thread counts, and so every result, stay as they are.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
start=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs"
echo "[test] built in $(( $(date +%s) - start )) s"
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"

if [ "${LOWBIT_SKIP_SANITIZERS:-0}" = 1 ]; then
  echo "[test] sanitizer job skipped (LOWBIT_SKIP_SANITIZERS=1)"
  exit 0
fi
san="${SANITIZE_BUILD_DIR:-$root/build-fuzz}"
bash "$root/launch/sanitize_build.sh" "$san"
bash "$root/launch/sanitize_tests.sh" "$san"
# A fresh corpus in the build directory: CI fuzzes from the seeds, bounded in time.
FUZZ_NO_BUILD=1 BUILD_DIR="$san" CORPUS_DIR="$san/fuzz/ci-corpus" bash "$root/launch/fuzz.sh" "${FUZZ_SECONDS:-20}"
