#!/usr/bin/env bash
# The prepared device check (issue 12; docs/performance.md, "Device check"). On the GPU machine, from
# the repository root, with device-deps/ carried (benchmarks/device/gather_deps.sh makes it here):
#
#   bash benchmarks/device/check.sh                 # CUDA build, ctest -L cuda, GPTQ/RTN and eval timings
#   bash benchmarks/device/check.sh --cpu-dry-run   # the same flow with tiny sizes on CPU (any machine)
#
# Steps, each with its own timeout, all inside one budget (LOWBIT_CHECK_BUDGET_S: 540 s on the GPU,
# so that one device call of 600 s holds it with room; unlimited in the dry run):
#   0. unpack device-deps/prefix.tar.xz into BUILD/deps and set up its environment (env.sh); seed the
#      tiny corpus and the Llama 3 tokenizer; compile and run a 2-rank MPI hello with the relocated
#      OpenMPI, then deps_smoke/ (every library lowbit links but libtorch, found, linked and run)
#   1. configure lowbit against this machine's torch (python3 on the PATH; -DLOWBIT_CUDA=ON; tests on,
#      benchmark programs off)
#   2. build `lowbit` and the test executables that the cuda-labelled tests and their fixtures run
#      (benchmarks/device/ctest_targets.py), ninja -j$(nproc)
#   a. ctest -L cuda --output-on-failure (the tiny_corpus fixture's setup is skipped: it needs Debian
#      packages; its output is seeded from device-deps instead)
#   b. GPTQ W4 g128 and RTN W4 g128 on `lowbit make-model --shape llama3-8b --layers 4` with 128 x 2048
#      calibration tokens (the tiny corpus' train split), distributed.device=cuda: seconds per block
#      (lowbit's "block i/N ... quantized in X s") and peak GPU memory (nvidia-smi every 0.2 s)
#   c. `lowbit eval MODEL --tasks wikitext2 --device cuda --limit 16 --seq-len 2048` (the corpus' test
#      split) beside transformers on the same directory (hf_eval.py, bf16): tokens/s and perplexities
# Prints a summary last. Logs go to $OUT when set (the device tool brings it back), else to
# BUILD/device-check/logs: check.log (everything printed), summary.txt, build.log, ctest.log,
# quantize.log, eval.log, gpu-memory.csv.
#
# Options: --cpu-dry-run   tiny sizes, device cpu (1 block, 8 x 256 calibration tokens, 2 windows of 256)
#          --system-deps   use this machine's packages instead of device-deps (dry run on the dev machine)
#          --deps DIR      the carried folder (default device-deps)
#          --build-dir DIR (default build-device)
#          --steps LIST    comma-separated subset of hello,configure,build,ctest,quantize,eval
#          --budget S      overall limit in seconds (also LOWBIT_CHECK_BUDGET_S)
# Environment: LOWBIT_CHECK_CUDA (the -DLOWBIT_CUDA value, default ON), LOWBIT_CHECK_JOBS (ninja -j,
#   default nproc), LOWBIT_CHECK_TARGETS (build these instead), LOWBIT_CHECK_CTEST_J (default 4),
#   LOWBIT_CHECK_TEST_TIMEOUT (per test, default 120 s), LOWBIT_CHECK_CPU_DRY_RUN=1 (= --cpu-dry-run).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

mode=gpu
deps="$root/device-deps"
build="$root/build-device"
steps="hello,configure,build,ctest,quantize,eval"
system_deps=0
budget="${LOWBIT_CHECK_BUDGET_S:-}"
[ "${LOWBIT_CHECK_CPU_DRY_RUN:-0}" = 1 ] && mode=cpu
while (($#)); do
  case "$1" in
    --cpu-dry-run) mode=cpu ;;
    --system-deps) system_deps=1 ;;
    --deps) deps="$(cd "$2" && pwd)"; shift ;;
    --build-dir) mkdir -p "$2" && build="$(cd "$2" && pwd)"; shift ;;
    --steps) steps="$2"; shift ;;
    --budget) budget="$2"; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = gpu ]; then
  LAYERS=4 NSAMPLES=128 SEQ=2048 EVAL_LIMIT=16 EVAL_SEQ=2048 MICRO=4 DEVICE=cuda
  budget="${budget:-540}"
  declare -A CAP=([hello]=60 [configure]=120 [build]=330 [ctest]=150 [make-model]=90 [gptq]=150 [rtn]=90
                  [eval]=90 [hf]=120)
else
  LAYERS=1 NSAMPLES=8 SEQ=256 EVAL_LIMIT=2 EVAL_SEQ=256 MICRO=1 DEVICE=cpu
  budget="${budget:-0}"  # 0: no overall limit
  declare -A CAP=([hello]=120 [configure]=600 [build]=10800 [ctest]=3600 [make-model]=900 [gptq]=1800 [rtn]=900
                  [eval]=900 [hf]=900)
fi
JOBS="${LOWBIT_CHECK_JOBS:-$(nproc)}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # the device machine runs commands as root
work="$build/device-check"
logs="${OUT:-$work/logs}"
[ -n "${OUT:-}" ] || rm -rf "$logs"  # each run's own logs ($OUT starts empty on the device machine)
mkdir -p "$work" "$logs"
exec > >(tee -a "$logs/check.log") 2>&1

T0=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }
want() { [[ ",$steps," == *",$1,"* ]]; }
declare -a SUMMARY=()
FAILED=0
note() { SUMMARY+=("$(printf '%-24s %8s  %s' "$1" "$3" "$2")"); }

# run_step NAME LOGFILE COMMAND...: runs COMMAND with the step's timeout (its cap, or what is left of
# the budget less 15 s for the summary), appending to LOGFILE; prints the tail of the log if it fails.
# Sets STEP_STATUS (ok, FAILED (exit N), TIMED OUT (limit N s), skipped (budget spent)), STEP_SECONDS
# and STEP_MARK (LOGFILE's line count before the step: its own output follows).
run_step() {
  local name="$1" log="$2"; shift 2
  local cap="${CAP[$name]:-120}" limit left
  limit=$cap
  if [ "$budget" != 0 ]; then
    left=$(awk -v b="$budget" -v e="$(secs "$T0")" 'BEGIN {printf "%d", b - e - 15}')
    if ((left < 10)); then
      echo "[check $(secs "$T0") s] $name: skipped, the budget of $budget s is spent"
      STEP_STATUS="skipped (budget spent)"; STEP_SECONDS="-"; STEP_MARK=$(cat "$log" 2>/dev/null | wc -l)
      FAILED=1; return 124
    fi
    ((left < limit)) && limit=$left
  fi
  echo "[check $(secs "$T0") s] $name (timeout ${limit} s) ..."
  touch "$log"; STEP_MARK=$(wc -l < "$log")
  echo "==== $name: $*" >> "$log"
  local t rc
  t=$(date +%s.%N)
  timeout -k 15 "$limit" "$@" >> "$log" 2>&1
  rc=$?
  STEP_SECONDS=$(secs "$t")
  if ((rc == 0)); then
    STEP_STATUS=ok
  elif ((rc == 124 || rc == 137)); then
    STEP_STATUS="TIMED OUT (limit $limit s)"
  else
    STEP_STATUS="FAILED (exit $rc)"
  fi
  echo "[check $(secs "$T0") s] $name: $STEP_STATUS after $STEP_SECONDS s"
  if ((rc != 0)); then
    echo "---- last lines of $(basename "$log"):"; tail -n 40 "$log" | sed 's/^/    /'; echo "----"
    FAILED=1
  fi
  return $rc
}
since_mark() { [ -f "$1" ] && tail -n +"$((STEP_MARK + 1))" "$1"; }  # LOGFILE: the last step's output

echo "== lowbit device check ($([ "$mode" = gpu ] && echo "GPU run" || echo "CPU dry run")), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "   repository $root, build $build, logs $logs, budget ${budget} s, ninja -j$JOBS"
# ---- 0. the carried prefix, the seeded data, a relocated MPI hello ------------------------------
corpus="$build/data/tiny-corpus"   # where the tests look (LOWBIT_TEST_TINY_CORPUS_DIR)
shared="$build/deps/shared"        # LOWBIT_SHARED_DIR: fixtures/llama3-tokenizer
tokdir="$shared/fixtures/llama3-tokenizer"
LOWBIT_DEPS_CMAKE_ARGS=()
setup_deps() {
  mkdir -p "$build/deps"
  if ((system_deps)); then
    echo "[check] --system-deps: this machine's packages, no prefix"
  else
    [ -f "$deps/prefix.tar.xz" ] || { echo "check.sh: $deps/prefix.tar.xz not found: run benchmarks/device/gather_deps.sh here and carry device-deps" >&2; return 1; }
    local sum
    sum="$(sha256sum "$deps/prefix.tar.xz" | cut -d' ' -f1)"
    if [ "$(cat "$build/deps/prefix.sha256" 2>/dev/null)" != "$sum" ]; then
      rm -rf "$build/deps/prefix"
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
        "$deps/prefix.tar.xz" "$build/deps/prefix" || return 1
      echo "$sum" > "$build/deps/prefix.sha256"
    fi
    # shellcheck source=env.sh
    source "$here/env.sh"
    lowbit_deps_env "$build/deps/prefix" "$build/deps/runtime-lib" || return 1
  fi
  # The data the GPU machine cannot make: the tiny corpus (Debian's dictionaries) and the tokenizer.
  mkdir -p "$corpus" "$tokdir"
  local src="$deps/tiny-corpus"
  if ((system_deps)) && [ ! -f "$src/train.txt.xz" ]; then
    [ -f "$corpus/manifest.json" ] || python3 launch/prepare_tiny_corpus.py "$corpus" || return 1
  else
    for f in manifest.json test.txt validation.txt; do
      cmp -s "$src/$f" "$corpus/$f" || cp "$src/$f" "$corpus/$f" || return 1
    done
    if [ ! -f "$corpus/train.txt" ] || [ "$src/train.txt.xz" -nt "$corpus/train.txt" ]; then
      python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' \
        "$src/train.txt.xz" "$corpus/train.txt" || return 1
    fi
  fi
  local tsrc="$deps/llama3-tokenizer"
  if ((system_deps)) && [ ! -f "$tsrc/tokenizer.json.xz" ]; then
    cp "$root/../shared/fixtures/llama3-tokenizer/"tokenizer*.json "$tokdir/" || return 1
  elif [ ! -f "$tokdir/tokenizer.json" ] || [ "$tsrc/tokenizer.json.xz" -nt "$tokdir/tokenizer.json" ]; then
    python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' \
      "$tsrc/tokenizer.json.xz" "$tokdir/tokenizer.json" || return 1
    cp "$tsrc/tokenizer_config.json" "$tokdir/" 2>/dev/null || true
  fi
  echo "[check] tiny corpus in $corpus ($(du -sh "$corpus" | cut -f1)), Llama 3 tokenizer in $tokdir"
}
t=$(date +%s.%N)
if setup_deps; then note "deps + data" "ok" "$(secs "$t")"; else note "deps + data" "FAILED" "$(secs "$t")"; FAILED=1; fi
{
  echo "   host: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), $(uname -m), $(nproc) cores," \
       "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(ldd --version 2>/dev/null | head -1 | awk '{print "glibc " $NF}')"
  echo "   compilers: $(${CXX:-g++} --version 2>/dev/null | head -1); $(nvcc --version 2>/dev/null | tail -2 | head -1)"
  echo "   cmake: $(cmake --version 2>/dev/null | head -1); ninja $(ninja --version 2>/dev/null); python3 $(command -v python3)"
  echo "   torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -1)"
  command -v nvidia-smi >/dev/null && echo "   gpu: $(nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader 2>&1 | head -1)"
} 2>&1
if [ "$mode" = gpu ] && ! command -v nvidia-smi >/dev/null; then
  echo "   WARNING: no nvidia-smi: peak GPU memory cannot be measured"
fi

policy_args=()  # CMake 4 refuses config files that ask for policies older than 3.5 without this
(( $(cmake --version | awk 'NR == 1 {split($3, v, "."); print v[1]}') >= 4 )) && policy_args=(-DCMAKE_POLICY_VERSION_MINIMUM=3.5)

mpi_hello() {
  cat > "$work/mpi_hello.c" <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size, one = 1, sum = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  printf("mpi hello: rank %d of %d, allreduce %d\n", rank, size, sum);
  MPI_Finalize();
  return sum == size ? 0 : 1;
}
EOF
  echo "mpirun: $(command -v mpirun), mpicc: $(command -v mpicc); $(mpicc -showme 2>&1)"
  mpicc "$work/mpi_hello.c" -o "$work/mpi_hello" && mpirun --oversubscribe -np 2 "$work/mpi_hello" || return 1
  # Every other library lowbit links but libtorch: found as cmake/dependencies.cmake finds them,
  # compiled, linked and run (benchmarks/device/deps_smoke).
  cmake -S "$here/deps_smoke" -B "$work/deps_smoke" -G Ninja "${LOWBIT_DEPS_CMAKE_ARGS[@]}" "${policy_args[@]}" &&
    cmake --build "$work/deps_smoke" && "$work/deps_smoke/deps_smoke"
}
if want hello; then
  run_step hello "$logs/build.log" bash -c "$(declare -p LOWBIT_DEPS_CMAKE_ARGS policy_args here work); $(declare -f mpi_hello); mpi_hello"
  since_mark "$logs/build.log" | grep -E "mpi hello|^(MPI|HDF5):|PASSED" | sed 's/^/    /'
  note "mpi hello + deps smoke" "$STEP_STATUS: $(command -v mpirun)" "$STEP_SECONDS"
fi

# ---- 1. configure, 2. build ----------------------------------------------------------------------------
cuda_opt="${LOWBIT_CHECK_CUDA:-ON}"
if [ -z "${LOWBIT_CHECK_CUDA:-}" ] && [ "$mode" = cpu ] && ! { command -v nvcc >/dev/null && python3 -c 'import sys, torch; sys.exit(not torch.version.cuda)' 2>/dev/null; }; then
  cuda_opt=AUTO  # the dry run on a machine without the CUDA toolkit
fi
cmake_args=(-S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOWBIT_CUDA=$cuda_opt
            -DLOWBIT_BUILD_TESTS=ON -DLOWBIT_BUILD_BENCHMARKS=OFF -DLOWBIT_PYTHON="$(command -v python3)"
            -DLOWBIT_SHARED_DIR="$shared" "${LOWBIT_DEPS_CMAKE_ARGS[@]}" "${policy_args[@]}")
CONFIGURE_OK=1
if want configure; then
  if run_step configure "$logs/build.log" cmake "${cmake_args[@]}"; then
    found="$(grep -E "^(MPI_C_COMPILER|HDF5_C_COMPILER_EXECUTABLE|yaml-cpp_DIR|GTest_DIR|ZLIB_LIBRARY|PKG_CONFIG_EXECUTABLE|LOWBIT_MPIRUN|NCCL_LIBRARY|TORCH_CUDART_LIBRARY):" "$build/CMakeCache.txt" | sed 's/:[A-Z]*=/=/' | tr '\n' ' ')"
    echo "    found: $found"
    note "configure" "ok: CUDA/NCCL parts $(since_mark "$logs/build.log" | grep -o 'CUDA/NCCL parts: [A-Z]*' | tail -1 | awk '{print $3}')" "$STEP_SECONDS"
  else
    note "configure" "$STEP_STATUS" "$STEP_SECONDS"; CONFIGURE_OK=0
  fi
fi
targets=(lowbit)
BUILD_OK=1
if want build && ! ((CONFIGURE_OK)); then
  echo "[check $(secs "$T0") s] build: skipped, the configure step failed"
  note "build" "skipped (configure failed)" "-"; BUILD_OK=0; FAILED=1
elif want build; then
  if [ -n "${LOWBIT_CHECK_TARGETS:-}" ]; then
    read -r -a targets <<<"$LOWBIT_CHECK_TARGETS"
  elif [ -f "$build/build.ninja" ]; then
    mapfile -t tt < <(python3 "$here/ctest_targets.py" "$build" cuda "^tiny_corpus$" 2>>"$logs/build.log")
    ((${#tt[@]})) || echo "[check] no test carries the label 'cuda' (or ctest_targets.py failed): building lowbit only"
    for x in "${tt[@]}"; do [[ " ${targets[*]} " == *" $x "* ]] || targets+=("$x"); done
  fi
  echo "[check] targets: ${targets[*]}"
  run_step build "$logs/build.log" cmake --build "$build" -j "$JOBS" --target "${targets[@]}" || BUILD_OK=0
  note "build (${#targets[@]} targets)" "$STEP_STATUS: $(since_mark "$logs/build.log" | grep -cE '^\[[0-9]+/[0-9]+\] Building') compiled" "$STEP_SECONDS"
fi
lowbit="$build/bin/lowbit"
[ -x "$lowbit" ] || BUILD_OK=0
needs_build() {  # STEP: false (and noted) when the build failed or lowbit is missing
  ((BUILD_OK)) && return 0
  echo "[check $(secs "$T0") s] $1: skipped, the build failed or $lowbit is missing"
  note "$1" "skipped (no build)" "-"; FAILED=1; return 1
}

# ---- a. the CUDA-labelled tests -----------------------------------------------------------------------
CTEST_LINE="-"
if want ctest && needs_build ctest; then
  ctest_j="${LOWBIT_CHECK_CTEST_J:-4}"
  [ "$mode" = cpu ] && ctest_j=1
  run_step ctest "$logs/ctest.log" ctest --test-dir "$build" -L cuda -FS '^tiny_corpus$' --output-on-failure \
      --timeout "${LOWBIT_CHECK_TEST_TIMEOUT:-120}" -j "$ctest_j"
  CTEST_LINE="$(since_mark "$logs/ctest.log" | grep -E 'tests passed|No tests were found' | tail -1)"
  skipped=$(since_mark "$logs/ctest.log" | grep -cE '^\s*[0-9]+/[0-9]+ Test .*(\*\*\*Skipped|Not Run)')
  CTEST_LINE="${CTEST_LINE:-no ctest summary}, $skipped skipped"
  since_mark "$logs/ctest.log" | grep -E "^\s*[0-9]+/[0-9]+ Test" | sed 's/^/    /' | tail -40
  note "ctest -L cuda" "$STEP_STATUS: $CTEST_LINE" "$STEP_SECONDS"
fi

# ---- b. GPTQ and RTN on the 8B-shaped model -----------------------------------------------------------
model="$work/llama3-8b-${LAYERS}blocks"
declare -A PER_BLOCK=() PEAK=()
poll_pid=""
gpu_poll_start() {  # FILE: memory.used (MiB) every 0.2 s
  poll_pid=""
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 200 > "$1" 2>/dev/null &
  poll_pid=$!
  sleep 1  # a baseline sample before the run starts
}
gpu_poll_stop() {  # FILE TAG -> PEAK[TAG] = "peak X GB (baseline Y GB)"
  [ -n "$poll_pid" ] || { PEAK[$2]="n/a (no nvidia-smi)"; return 0; }
  sleep 0.5
  kill "$poll_pid" 2>/dev/null; wait "$poll_pid" 2>/dev/null
  PEAK[$2]="$(awk -F', *' 'NR == 1 {b = $2} $2 + 0 > m {m = $2 + 0} END {
      if (NR == 0) {print "n/a (no samples)"; exit}
      printf "peak %.1f GB = %.1f GiB (%.1f GB above the %.1f GB before the run)", m * 1.048576 / 1000, m / 1024,
             (m - b) * 1.048576 / 1000, b * 1.048576 / 1000}' "$1")"
  cat "$1" >> "$logs/gpu-memory.csv"
}
quantize_method() {  # METHOD
  [ -n "$work" ] || return 2
  local m="$1" run="$work/runs/$1"
  rm -rf "$run"
  mpirun --oversubscribe --bind-to none -np 1 "$lowbit" quantize "configs/experiments/llama3-8b-$m.yaml" \
    model="$model" calibration.source="$corpus/train.txt" calibration.nsamples="$NSAMPLES" \
    calibration.seq_len="$SEQ" output.run_dir="$run" distributed.device="$DEVICE"
}
make_model() {
  if [ -f "$model/config.json" ] && [ -f "$model/model.safetensors" ]; then
    echo "reusing $model"
  else
    rm -rf "$model" && "$lowbit" make-model --shape llama3-8b --layers "$LAYERS" --seed 0 "$model" | grep -v '^  ' || return 1
  fi
  cp "$tokdir/tokenizer.json" "$model/" && { cp "$tokdir/tokenizer_config.json" "$model/" 2>/dev/null || true; }
}
export -f quantize_method make_model
export work lowbit model corpus tokdir LAYERS NSAMPLES SEQ DEVICE
if want quantize && needs_build quantize; then
  run_step make-model "$logs/quantize.log" bash -c make_model
  note "make-model ($LAYERS blocks)" "$STEP_STATUS" "$STEP_SECONDS"
  if [ "$STEP_STATUS" = ok ]; then
    for m in gptq rtn; do
      rm -f "$work/gpu-$m.csv"
      gpu_poll_start "$work/gpu-$m.csv"
      run_step "$m" "$logs/quantize.log" bash -c "quantize_method $m"
      gpu_poll_stop "$work/gpu-$m.csv" "$m"
      PER_BLOCK[$m]="$(since_mark "$logs/quantize.log" | grep -oE 'quantized in [0-9.]+ s' | awk '{print $3}' | tr '\n' ' ')"
      since_mark "$logs/quantize.log" | grep -E '^(\[rank [0-9]+\] )?block [0-9]+/' | sed 's/^/    /'
      note "$m W4 g128" "$STEP_STATUS" "$STEP_SECONDS"
    done
  fi
fi

# ---- c. evaluation tokens/s, lowbit beside transformers --------------------------------------------------
eval_lowbit() {
  [ -n "$work" ] || return 2
  rm -f "$work/eval-results.json"
  mpirun --oversubscribe --bind-to none -np 1 "$lowbit" eval "$model" --tasks wikitext2 \
    --data wikitext2="$corpus/test.txt" --device "$DEVICE" --limit "$EVAL_LIMIT" --seq-len "$EVAL_SEQ" \
    --micro-batch "$MICRO" --out "$work/eval-results.json"
}
eval_hf() {
  local threads=0
  [ "$DEVICE" = cpu ] && threads=$(nproc)
  PYTHONUNBUFFERED=1 python3 "$here/hf_eval.py" "$model" "$corpus/test.txt" --seq-len "$EVAL_SEQ" --limit "$EVAL_LIMIT" \
    --micro-batch "$MICRO" --device "$DEVICE" --threads "$threads" --lowbit-results "$work/eval-results.json" \
    --out "$work/eval-hf.json"
}
export -f eval_lowbit eval_hf
export EVAL_LIMIT EVAL_SEQ MICRO here
EVAL_LINE="-"
if want eval && needs_build eval; then
  if [ ! -f "$model/config.json" ]; then
    echo "[check] eval: no model ($model); run the quantize step first"
  else
    rm -f "$work/eval-results.json" "$work/eval-hf.json" "$work/gpu-eval.csv"
    gpu_poll_start "$work/gpu-eval.csv"
    run_step eval "$logs/eval.log" bash -c eval_lowbit
    gpu_poll_stop "$work/gpu-eval.csv" eval
    since_mark "$logs/eval.log" | grep -E '^eval ' | sed 's/^/    /'
    note "lowbit eval" "$STEP_STATUS" "$STEP_SECONDS"
    run_step hf "$logs/eval.log" bash -c eval_hf
    since_mark "$logs/eval.log" | grep -E '^hf_eval' | sed 's/^/    /'
    note "transformers eval" "$STEP_STATUS" "$STEP_SECONDS"
    EVAL_LINE="$(python3 - "$work/eval-results.json" "$work/eval-hf.json" "$EVAL_SEQ" <<'EOF'
import json, os, sys
lb, hf, seq = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = []
if os.path.exists(lb):
    r = json.load(open(lb))["tasks"]["wikitext2"]
    w = r.get("windows", 0)
    out.append(f"lowbit {w * seq / r['seconds']:,.0f} tokens/s ({w} x {seq}, ppl {r['perplexity']:.4f})")
if os.path.exists(hf):
    h = json.load(open(hf))
    out.append(f"transformers {h['tokens_per_s']:,.0f} tokens/s ({h['tokens_per_s_after_first_forward']:,.0f} after "
               f"the first forward; {h['dtype']}, ppl {h['perplexity']:.4f})")
    if "lowbit" in h:
        out.append(f"ratio {h['lowbit']['tokens_per_s'] / h['tokens_per_s']:.2f}")
print("; ".join(out) if out else "no results")
EOF
)"
  fi
fi

# ---- summary ------------------------------------------------------------------------------------------------
per_block_line() {  # METHOD
  local v="${PER_BLOCK[$1]:-}"
  [ -n "$v" ] || { echo "no block timings"; return; }
  echo "$v" | awk '{n = NF; s = 0; for (i = 1; i <= n; i++) s += $i;
                    r = 0; for (i = 2; i <= n; i++) r += $i;
                    printf "s/block %s(mean %.2f", $0, s / n; if (n > 1) printf ", blocks 2..%d: %.2f", n, r / (n - 1); printf ")"}'
}
{
  echo
  echo "== device check summary: $([ "$mode" = gpu ] && echo "GPU run, device cuda" || echo "CPU dry run, device cpu"); $(nproc) cores;" \
       "$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo "no GPU")"
  printf '%-24s %8s  %s\n' "step" "seconds" "result"
  printf '%s\n' "${SUMMARY[@]}"
  echo "-- figures (model: llama3-8b shapes, $LAYERS blocks; calibration $NSAMPLES x $SEQ tokens; targets for the GPU run: GPTQ <= 4 s/block, peak <= 24 GB)"
  for m in gptq rtn; do
    [ -n "${PER_BLOCK[$m]+x}" ] || continue
    echo "   $m W4 g128: $(per_block_line "$m"); GPU memory ${PEAK[$m]:-n/a}"
  done
  echo "   eval wikitext2 ($EVAL_LIMIT x $EVAL_SEQ): $EVAL_LINE; GPU memory (lowbit) ${PEAK[eval]:-n/a}"
  echo "   ctest -L cuda: $CTEST_LINE"
  echo "== total $(secs "$T0") s (budget ${budget} s); $([ $FAILED = 0 ] && echo "all steps ok" || echo "SOME STEPS FAILED"); logs in $logs"
} | tee "$logs/summary.txt"
exit $FAILED
