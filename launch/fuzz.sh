#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz, one after another, one job each (the machine is shared).
# Usage: launch/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600 s, every target)
#   BUILD_DIR=...      the clang fuzz build (default ./build-fuzz; built first by launch/sanitize_build.sh
#                      unless FUZZ_NO_BUILD=1)
#   CORPUS_DIR=...     where each target's corpus grows from run to run (default ./fuzz-corpus, git-ignored);
#                      seeds are regenerated from the fixtures each time and read alongside it
#   FUZZ_TIMEOUT=10    seconds one input may take before it counts as a hang
#   FUZZ_RUNS=N        stop a target after N executions (SECONDS_PER_TARGET still bounds it)
# Any crash, hang, leak, out-of-memory (> 2560 MB) or sanitizer report fails the target: the input
# is left in $CORPUS_DIR/crashes/ and the script exits non-zero after the remaining targets ran.
# Prints one line per target: executions, exec/s, coverage (cov, ft), corpus size, seconds.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-fuzz}"
corpus="${CORPUS_DIR:-$root/fuzz-corpus}"
seconds="${1:-600}"
shift $(( $# > 0 ? 1 : 0 ))

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then bash "$root/launch/sanitize_build.sh" "$build" || exit 1; fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in "$build"/fuzz/fuzz_*; do
    n="$(basename "$f")"; n="${n#fuzz_}"
    [ "$n" = make_shard_seeds ] || targets+=("$n")
  done
fi

seeds="$build/fuzz/seeds"
python3 "$root/tests/fuzz/make_seeds.py" "$root" "$root/../shared/fixtures/llama3-tokenizer/tokenizer.json" "$seeds" || exit 1
"$build/fuzz/fuzz_make_shard_seeds" "$seeds/shard_header" || exit 1

mkdir -p "$corpus/crashes" "$build/fuzz/logs"
# Per-target settings. tokenizer_encode: encoding with the 128k-token Llama 3 vocabulary costs per
# byte, and short texts reach the same code (pre-tokenizer regex, BPE merges, added tokens).
# shard_header: HDF5 loses small buffers on many damaged files (tests/sanitizers/lsan.supp), and each
# such input would trigger a full leak scan of the ~1 GB heap (8 exec/s instead of ~70); lowbit's own
# shard code is leak-checked by the sanitized unit and model tests instead.
declare -A extra=([tokenizer_encode]="-max_len=512" [shard_header]="-detect_leaks=0")
failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "[fuzz] no target $t in $build/fuzz"; failed+=("$t"); continue; }
  mkdir -p "$corpus/$t"
  log="$build/fuzz/logs/$t.$(date +%Y%m%d-%H%M%S).$$.log"   # one per run: concurrent runs never share a log
  start=$(date +%s)
  # The first corpus folder receives the new inputs; the seeds are read only.
  bash "$root/launch/sanitize_env.sh" "$bin" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2560 -print_final_stats=1 \
         -dict="$root/tests/fuzz/dict/$t.dict" -artifact_prefix="$corpus/crashes/$t-" ${extra[$t]:-} \
         ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
         "$corpus/$t" "$seeds/$t" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last"); ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  printf '[fuzz] %-18s rc=%d execs=%s exec/s=%s cov=%s ft=%s corpus=%s time=%ss\n' \
         "$t" "$rc" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$secs"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "[fuzz] $t failed; the end of $log:"; tail -n 60 "$log"
  fi
done
if ((${#failed[@]})); then echo "[fuzz] FAILED: ${failed[*]} (reproducers in $corpus/crashes/)"; exit 1; fi
echo "[fuzz] all ${#targets[@]} targets ran ${seconds} s each without a finding"
