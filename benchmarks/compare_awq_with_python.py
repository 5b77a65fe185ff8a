"""AWQ seconds per block: lowbit's AWQ beside the same algorithm written plainly in Python torch
(tests/reference/make_awq_cases.py's `awq_block`, the transcription the exactness test compares
against), on block 0 of a model with the LLaMA3-8B shapes, same machine, same threads, fp32 on the
CPU, W4 g128, best of N. Both include the activation statistics pass.

Usage: benchmarks/compare_awq_with_python.py BUILD_DIR MODEL_DIR [--seqs 2] [--seq-len 512] [--repeat 1]
  MODEL_DIR: e.g. `lowbit make-model --shape llama3-8b --layers 2 --dtype float32 /tmp/l8b`
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")
import make_awq_cases as plain  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("model")
    ap.add_argument("--seqs", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    out = subprocess.run([os.path.join(a.build, "bin", "lowbit_bench"), "--repeat", str(a.repeat), "block", "--method",
                          "awq", "--params", "bits: 4\ngroup_size: 128", "--model", a.model, "--seqs", str(a.seqs),
                          "--seq-len", str(a.seq_len)],
                         check=True, capture_output=True, text=True).stdout
    ours = float(re.search(r"([\d.]+) s per block", out).group(1))
    torch.set_grad_enabled(False)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    cfg.setdefault("rope_parameters", {"rope_theta": cfg.get("rope_theta", 500000.0)})
    cfg.setdefault("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    tensors = {}
    for f in sorted(os.listdir(a.model)):
        if f.endswith(".safetensors"):
            tensors.update(st_torch.load_file(os.path.join(a.model, f)))
    W = {n: tensors[f"model.layers.0.{n}.weight"].float() for n in plain.LINEARS +
         ["input_layernorm", "post_attention_layernorm"]}
    torch.manual_seed(0)
    ids = torch.randint(cfg["vocab_size"], (a.seqs, a.seq_len))
    x = tensors["model.embed_tokens.weight"].float()[ids]
    cs = plain.rope(cfg, a.seq_len)
    plain.MICRO = 1  # lowbit_bench runs one sequence per micro-batch
    best = 1e30
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        plain.awq_block(W, cfg, x, cs, 4, 128, {}, "bench")
        best = min(best, time.perf_counter() - t0)
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}; {a.seqs} x {a.seq_len} tokens, W4 g128")
    print("| block (hidden, intermediate) | lowbit s/block | plain PyTorch s/block | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| {cfg['hidden_size']}, {cfg['intermediate_size']} | {ours:.1f} | {best:.1f} | {best / ours:.2f} |")


if __name__ == "__main__":
    main()
