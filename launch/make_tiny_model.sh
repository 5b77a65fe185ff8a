#!/usr/bin/env bash
# Reproduces lowbit-tiny-llama3 (tests/fixtures/models/lowbit-tiny-llama3) from nothing:
#   1. the corpus: Debian's GCIDE dictionary and fortune databases, de-duplicated, split 98/1/1 by hash
#      (data/tiny-corpus)
#   2. the tokenizer: byte-level BPE, 4096 ids, Llama 3 pre-tokenizer (data/tiny-corpus/tokenizer.json)
#   3. training: lowbit train configs/train/tiny-llama3.yaml (about 54 minutes on 2 CPU cores)
#   4. the fixture: config.json, model.safetensors, tokenizer.json copied into tests/fixtures
# Interrupted, it resumes training from its last checkpoint when run again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${BUILD_DIR:-$root/build}"
PY="${PYTHON:-python3}"

bash launch/setup.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target lowbit

"$PY" launch/prepare_tiny_corpus.py data/tiny-corpus
# (re)trained when the training split is newer: the corpus script leaves unchanged files untouched
if [ ! data/tiny-corpus/tokenizer.json -nt data/tiny-corpus/train.txt ]; then
  "$PY" launch/train_tiny_tokenizer.py data/tiny-corpus/train.txt data/tiny-corpus/tokenizer.json 4096
fi
"$build/bin/lowbit" train configs/train/tiny-llama3.yaml

fixture=tests/fixtures/models/lowbit-tiny-llama3
mkdir -p "$fixture"
cp runs/tiny-llama3/model/config.json runs/tiny-llama3/model/model.safetensors runs/tiny-llama3/model/tokenizer.json "$fixture/"
echo "lowbit-tiny-llama3 written to $fixture"
