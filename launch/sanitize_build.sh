#!/usr/bin/env bash
# Configures and builds the clang ASan + UBSan + libFuzzer build (cmake/sanitizers.cmake: one
# directory serves the sanitized tests and the fuzz targets): lowbit_core, the unit and model tests,
# the `lowbit` CLI their fixtures run, and the fuzz targets. No benchmarks, no CUDA parts.
# Usage: launch/sanitize_build.sh [BUILD_DIR]        (default ./build-fuzz)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-fuzz}"
jobs="$(nproc 2>/dev/null || echo 2)"
# Debian bookworm's clang; launch/setup.sh installs it with libFuzzer and the sanitizer runtimes.
export CC="${CC_FUZZ:-clang-14}" CXX="${CXX_FUZZ:-clang++-14}"

start=$(date +%s)
# TORCH_CUDA_ARCH_LIST: a machine with nvcc would otherwise make libtorch's CMake probe for a GPU.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOWBIT_FUZZ=ON -DLOWBIT_CUDA=OFF \
      -DLOWBIT_BUILD_BENCHMARKS=OFF -DTORCH_CUDA_ARCH_LIST=9.0 >/dev/null
cmake --build "$build" -j "$jobs" --target lowbit lowbit_unit_tests lowbit_model_tests fuzz_targets
echo "[sanitize] configured and built $build in $(( $(date +%s) - start )) s"
