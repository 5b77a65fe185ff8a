#!/usr/bin/env bash
# Runs the tests of the ASan + UBSan build (launch/sanitize_build.sh) with the sanitizer settings of
# launch/sanitize_env.sh: the unit tests, the model tests and the fuzz replays (every target once over
# its seeds and tests/fuzz/crashes/). Any sanitizer report fails the test that hit it.
# Usage: launch/sanitize_tests.sh [--all] [BUILD_DIR]      (default ./build-fuzz)
# CI runs a subset (docs/reliability.md): the tests that each repeat whole quantizations of the tiny
# model (every QuantizeRun test and RunFaults.ResumingWithOtherWeights: ~40-170 s each under ASan,
# against ~10-25 s in the Release build) are left out; the rest of RunFaults (its two runs are made
# once per build) and every other model test run, except five that repeat, at other bit widths or
# dtypes, code paths the remaining ones already run under the sanitizers (TinyModel's GPTQ-vs-RTN
# and quantization-matters sweeps, the bf16 pipeline scorer, true-sequential GPTQ, the uniform decode
# check: ~2 min of the job; Methods.EveryRegisteredMethodQuantizesABlockFaithfully runs every method
# and format). --all runs them all (about 17 more minutes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
all=0
if [ "${1:-}" = --all ]; then all=1; shift; fi
build="${1:-$root/build-fuzz}"
jobs="$(nproc 2>/dev/null || echo 2)"
heavy='model\.(QuantizeRun\.|RunFaults\.ResumingWithOtherWeights|TinyModel\.(GptqOutputError|QuantizationMatters)|PipelineScorer\.SharedContextsInBf16|Methods\.(TrueSequential|UniformArtifactsDecode))'
exclude=(); ((all)) || exclude=(-E "$heavy")
start=$(date +%s)
bash "$root/launch/sanitize_env.sh" ctest --test-dir "$build" --output-on-failure -j "$jobs" \
     -R '^(unit|model|fuzz)\.' "${exclude[@]}"
echo "[sanitize] tests ran in $(( $(date +%s) - start )) s"
