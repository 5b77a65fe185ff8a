"""DB-LLM stage 2 throughput: `lowbit distill` beside the same training step written in plain PyTorch
(tests/reference/make_distill_cases.py's transcription: the FP teacher's logits without gradients,
the student's linears decoded from fixed planes and trainable α per group, the DAD loss, AdamW at
relative rates), same machine, same threads, same shapes, one process each.

Usage: benchmarks/compare_distill_with_torch.py BUILD_DIR DB_LLM_RUN CORPUS_DIR [--steps N] [--threads N]
DB_LLM_RUN: a db-llm run of lowbit-tiny-llama3 (lowbit quantize ... method.name=db-llm). Both sides
train on batches of 8 windows of 256 tokens (micro-batches of 4). Prints training tokens/s.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")
import make_distill_cases as ref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TINY = os.path.join(ROOT, "tests/fixtures/models/lowbit-tiny-llama3")
SEQ, BATCH, MICRO = 256, 8, 4


def lowbit_tokens_per_s(build, run, corpus, steps, threads):
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run([os.path.join(build, "bin", "lowbit"), "distill",
                            os.path.join(ROOT, "configs/distill/tiny-llama3-db-llm.yaml"), f"base={run}",
                            f"data.train={corpus}/train.txt", f"data.validation={corpus}/validation.txt",
                            f"training.steps={steps}", f"training.eval_every={steps}", f"training.log_every={steps}",
                            f"training.threads={threads}", "data.heldout_windows=4", f"output.dir={out}"],
                           capture_output=True, text=True, check=True)
    return float(re.findall(r"([0-9]+) tok/s", r.stdout)[-1])


def torch_tokens_per_s(steps, threads):
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(TINY, "config.json")))
    W = {k: v.float() for k, v in st_torch.load_file(os.path.join(TINY, "model.safetensors")).items()}
    cs = ref.rope(cfg, SEQ)
    Ws, params = dict(W), []
    planes = {}
    for b in range(cfg["num_hidden_layers"]):
        for m in ref.LINEARS:
            key = f"model.layers.{b}.{m}.weight"
            a = ref.initial_alpha(W[key]).requires_grad_(True)
            planes[key] = ref.assign(W[key], a.detach())
            rms = ref.decode(planes[key], a.detach()).pow(2).mean().sqrt().item()
            params.append({"params": [a], "lr": 1e-3 * rms, "key": key})
    opt = torch.optim.AdamW(params, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    V = cfg["vocab_size"]
    start = None
    for step in range(steps + 1):  # the first step warms up and is not timed
        if step == 1:
            start = time.perf_counter()
        for _ in range(BATCH // MICRO):
            ids = torch.randint(0, V, (MICRO, SEQ), generator=g)
            with torch.no_grad():
                t = ref.model_logits(W, cfg, ids, cs)
            for p in params:
                Ws[p["key"]] = ref.decode(planes[p["key"]], p["params"][0])
            s = ref.model_logits(Ws, cfg, ids, cs)
            loss = ref.loss_of(t.reshape(-1, V), s.reshape(-1, V), torch.ones(ids.numel(), dtype=torch.bool), "dad")
            (loss * MICRO / BATCH).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * BATCH * SEQ / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("run")
    ap.add_argument("corpus")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    ours = lowbit_tokens_per_s(a.build, a.run, a.corpus, a.steps, a.threads)
    theirs = torch_tokens_per_s(a.steps, a.threads)
    print(f"lowbit-tiny-llama3, {a.steps} steps of {BATCH} x {SEQ} tokens, {a.threads} threads:")
    print(f"  lowbit distill  {ours:8.0f} tokens/s")
    print(f"  plain PyTorch   {theirs:8.0f} tokens/s   (lowbit / PyTorch = {ours / theirs:.2f})")


if __name__ == "__main__":
    main()
