#!/usr/bin/env bash
# `lowbit plan`'s per-rank estimate against the measured peak memory of `lowbit quantize` on the
# layer-shape fixture: 2 blocks of the real LLaMA3-8B shapes (random weights), GPTQ W4 g128,
# 8 x 512 calibration tokens, one rank, fp32 on the CPU. About 3 minutes and 11 GB of memory.
# Usage: benchmarks/check_plan_memory.sh BUILD_DIR LLAMA3_TOKENIZER_JSON CORPUS_TXT
set -euo pipefail
build=$1 tokenizer=$2 corpus=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bin/lowbit" make-model --shape llama3-8b --layers 2 --seed 1 "$work/model" >/dev/null
cp "$tokenizer" "$work/model/tokenizer.json"
cat > "$work/exp.yaml" <<YAML
model: $work/model
method: {name: gptq, bits: 4, group_size: 128}
calibration: {source: $corpus, style: stream, nsamples: 8, seq_len: 512, seed: 0}
distributed: {backend: mpi, micro_batch: 1, propagation: quantized, threads: 2}
output: {run_dir: $work/run}
YAML
"$build/bin/lowbit" plan --model "$work/model" --ranks 1 --samples 8 --seq-len 512 --dtype float32 \
  --activation-dtype float32 --no-head | tail -2
/usr/bin/time -f "measured peak RSS of lowbit quantize: %M KiB (%e s)" "$build/bin/lowbit" quantize "$work/exp.yaml" 2>&1 \
  | grep -E "measured|block"
