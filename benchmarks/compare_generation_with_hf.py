"""Greedy generation throughput, lowbit vs transformers' `generate`, on the same LLaVA-NeXT model, images and
prompts, in one run on this machine (docs/performance.md). The model is random (tests/cli/_llava_setup.py)
with a language model of --hidden / --layers and the real Llama 3 vocabulary; 8 DocVQA-style questions,
32 new tokens each (the random model never stops early: every run generates the same count).
lowbit: `lowbit eval MODEL --tasks docvqa` (vision tower, prefill and decoding with its KV cache, one
process) at --micro-batch 1 and 8; transformers: `generate` per question, and all 8 left-padded in one
call. Both end to end (images to tokens), the same thread count.
Usage: compare_generation_with_hf.py LOWBIT LLAMA3_TOKENIZER_DIR [--hidden 1024 --layers 8 --threads 2]"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import transformers
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "tests/cli"))
from _llava_setup import make_llava, prompt_ids  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("lowbit")
p.add_argument("tokenizer_dir")
p.add_argument("--hidden", type=int, default=1024)
p.add_argument("--layers", type=int, default=8)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
work = tempfile.mkdtemp(prefix="lowbit-gen-bench-")
model_dir = os.path.join(work, "model")
model = make_llava(model_dir, a.tokenizer_dir, hidden=a.hidden, intermediate=a.hidden * 11 // 4, layers=a.layers,
                   heads=a.hidden // 64, kv_heads=max(1, a.hidden // 256))
rng = np.random.default_rng(0)
docs = os.path.join(work, "docs")
os.makedirs(docs)
with open(os.path.join(docs, "docvqa.jsonl"), "w") as fh:
    for i in range(8):
        h, w = [(20, 45), (50, 18), (28, 28), (40, 30)][i % 4]
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(os.path.join(docs, f"{i}.png"))
        fh.write(json.dumps({"question": f"What is written in box {i}?", "answers": ["x"], "questionId": i,
                             "image": f"{i}.png"}) + "\n")
subprocess.run([sys.executable, os.path.join(root, "launch/prepare_multimodal.py"), "--model", model_dir, "--out",
                os.path.join(work, "data"), "--docs", f"docvqa={os.path.join(docs, 'docvqa.jsonl')}"], check=True,
               capture_output=True)

rows = []
for batch in (1, 8):
    out = os.path.join(work, f"r{batch}.json")
    t0 = time.perf_counter()
    subprocess.run([a.lowbit, "eval", model_dir, "--tasks", "docvqa", "--data-dir", os.path.join(work, "data"),
                    "--micro-batch", str(batch), "--threads", str(a.threads), "--out", out], check=True,
                   capture_output=True)
    wall = time.perf_counter() - t0
    r = json.load(open(out))["tasks"]["docvqa"]
    rows.append((f"lowbit, batch {batch}", r["generated_tokens"], r["seconds"], wall))

tok = transformers.AutoTokenizer.from_pretrained(model_dir)
questions = [json.loads(line) for line in open(os.path.join(work, "data", "docvqa", "questions.jsonl"))]
from safetensors.torch import load_file  # noqa: E402

inputs = []
for q in questions:
    pix = load_file(os.path.join(work, "data", "docvqa", q["pixels"]))
    with torch.no_grad():
        n = model.model.get_image_features(pix["pixel_values"][None], pix["image_size"][None],
                                           return_dict=True).pooler_output[0].shape[0]
    prompt = q["question"] + "\nAnswer the question using a single word or phrase."
    inputs.append((prompt_ids(tok, prompt, n), pix))
t0 = time.perf_counter()
tokens = 0
with torch.no_grad():
    for ids, pix in inputs:
        out = model.generate(input_ids=torch.tensor([ids]), pixel_values=pix["pixel_values"][None],
                             image_sizes=pix["image_size"][None], max_new_tokens=32, do_sample=False)
        tokens += out.shape[1] - len(ids)
rows.append(("transformers generate, one question at a time", tokens, time.perf_counter() - t0, None))
longest = max(len(ids) for ids, _ in inputs)
input_ids = torch.tensor([[0] * (longest - len(ids)) + ids for ids, _ in inputs])
mask = torch.tensor([[0] * (longest - len(ids)) + [1] * len(ids) for ids, _ in inputs])
pixels = torch.nn.utils.rnn.pad_sequence([pix["pixel_values"] for _, pix in inputs], batch_first=True)
sizes = torch.stack([pix["image_size"] for _, pix in inputs])
t0 = time.perf_counter()
with torch.no_grad():
    out = model.generate(input_ids=input_ids, attention_mask=mask, pixel_values=pixels, image_sizes=sizes,
                         max_new_tokens=32, do_sample=False, pad_token_id=0)
rows.append(("transformers generate, 8 left-padded", (out.shape[1] - longest) * len(inputs), time.perf_counter() - t0,
             None))

print(f"LLaVA-NeXT, language model hidden {a.hidden}, {a.layers} layers, vocabulary 128320; 8 questions x 32 "
      f"tokens; {a.threads} threads; torch {torch.__version__}, transformers {transformers.__version__}")
print(f"{'':48} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
for name, n, secs, wall in rows:
    extra = f"   (process wall {wall:.1f} s)" if wall else ""
    print(f"{name:48} {n:7d} {secs:8.2f} {n / secs:9.1f}{extra}")
shutil.rmtree(work, ignore_errors=True)
