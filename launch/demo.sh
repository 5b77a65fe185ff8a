#!/usr/bin/env bash
# The demo: on a fresh machine, installs what is missing, builds lowbit, then
#  1. the project's trained small model (lowbit-tiny-llama3): `lowbit info`, and what it predicts
#     after a prompt (`lowbit logits --text`);
#  2. a small random LLaMA-3-style model built with Hugging Face transformers (GQA, llama3 RoPE
#     scaling): a forward pass with `lowbit logits`, compared against transformers;
#  3. lowbit-tiny-llama3 quantized with GPTQ W3 g128 on 2 MPI ranks, and the shards inspected;
#  4. on 2 MPI ranks a sweep: full precision, RTN and GPTQ at 4/3/2 bits (group 128), each evaluated
#     (perplexity and multiple-choice tasks on the tiny corpus's test split), printed as one table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
PY="${PYTHON:-python3}"

bash "$root/launch/setup.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target lowbit
lowbit="$build/bin/lowbit"

tiny="$root/tests/fixtures/models/lowbit-tiny-llama3"
echo; echo "== lowbit info $tiny"
"$lowbit" info "$tiny" --no-tensors
echo; echo "== lowbit logits lowbit-tiny-llama3 --text 'The best way to predict the future is to'"
"$lowbit" logits "$tiny" --text "The best way to predict the future is to" --top 5

out="$build/demo"
echo "== building small random models with transformers into $out/models"
"$PY" "$root/tests/reference/make_hf_models.py" "$out/models"
model="$out/models/gqa_llama3_untied"

echo; echo "== lowbit info $model"
"$lowbit" info "$model" --no-tensors

ids=$("$PY" -c "
import sys; sys.path.insert(0, '$root/tests/reference')
from safetensors.torch import load_file
print(','.join(map(str, load_file('$model/reference.safetensors')['ids'][0].tolist())))")
echo; echo "== lowbit logits $model --ids <100 ids>"
"$lowbit" logits "$model" --ids "$ids" --top 5 --out "$out/logits.safetensors"

echo; echo "== the same forward in transformers"
"$PY" - "$model" "$out/logits.safetensors" <<'PYEOF'
import sys
from safetensors.torch import load_file
ref = load_file(sys.argv[1] + "/reference.safetensors")["logits_fp32"][0]
ours = load_file(sys.argv[2])["logits"]
err = ((ours - ref).abs().max() / ref.abs().max()).item()
print(f"max |lowbit - transformers| / max |logit| over all {ref.shape[0]} positions = {err:.2e}")
sys.exit(0 if err <= 1e-4 else 1)
PYEOF

echo; echo "== mpirun -np 2 lowbit quantize configs/experiments/tiny-llama3-gptq-w4g128.yaml method.bits=3"
cd "$root"
"$PY" launch/prepare_tiny_corpus.py "$out/tiny-corpus" >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$out/run-gptq-w3g128"
mpirun --oversubscribe -np 2 "$lowbit" quantize configs/experiments/tiny-llama3-gptq-w4g128.yaml method.bits=3 \
  calibration.source="$out/tiny-corpus/train.txt" output.run_dir="$out/run-gptq-w3g128" distributed.threads=1
echo; echo "== lowbit inspect (first shard)"
"$lowbit" inspect "$out/run-gptq-w3g128/shards/rank-00000-of-00002.h5" | head -14

echo; echo "== mpirun -np 2 lowbit sweep: FP, RTN and GPTQ at 4, 3 and 2 bits (group 128), perplexity + a multiple-choice task"
"$PY" launch/prepare_tiny_eval.py "$out/tiny-corpus" "$out/tiny-eval" >/dev/null
cat > "$out/tiny-sweep.yaml" <<YAML
name: demo
base: $out/tiny-base.yaml
runs_dir: $out/sweep
ranks: 2
fp: true
eval:
  tasks: [wikitext2, ptb, piqa, hellaswag]
  data_dir: $out/tiny-eval
  seq_len: 256
grid:
  method.name: [rtn, gptq]
  method.bits: [4, 3, 2]
  method.group_size: [128]
YAML
sed -e "s#data/tiny-corpus/train.txt#$out/tiny-corpus/train.txt#" -e "s#  propagation: quantized#  propagation: quantized\n  threads: 1#" \
  configs/experiments/tiny-llama3-base.yaml > "$out/tiny-base.yaml"
rm -rf "$out/sweep"
# Progress lines and the final table (FP row first, the paper's column order).
mpirun --oversubscribe -np 2 "$lowbit" sweep "$out/tiny-sweep.yaml" | grep -vE "^(quantize:|\[rank|block |done:|eval |  )" || true
echo; echo "== lowbit report: the same runs as CSV and a perplexity-vs-bits plot"
"$lowbit" report "$out/sweep" --format csv --out "$out/table.csv" --plot "$out/perplexity-vs-bits.svg"
