"""Training throughput of `lowbit train` beside PyTorch training transformers' LlamaForCausalLM,
same machine, same model shape (lowbit-tiny-llama3), same batch (16 x 256 tokens), AdamW, fp32.

Usage: benchmarks/compare_training_with_hf.py BUILD_DIR [--steps N] [--threads N]
Needs the tiny corpus (launch/prepare_tiny_corpus.py data/tiny-corpus) and the fixture tokenizer.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from _require import require  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch, transformers = require("torch", "transformers")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        yaml = open(os.path.join(ROOT, "configs/train/tiny-llama3.yaml")).read()
        yaml = re.sub(r"steps: \d+", f"steps: {a.steps}", yaml)
        yaml = re.sub(r"warmup_steps: \d+", "warmup_steps: 5", yaml)
        yaml = re.sub(r"threads: \d+", f"threads: {a.threads}", yaml)
        yaml = re.sub(r"dir: \S+", f"dir: {tmp}/run", yaml)
        yaml = re.sub(r"save_every: \d+", "save_every: 100000", yaml)
        yaml = re.sub(r"  every: \d+", "  every: 100000", yaml)
        yaml = yaml.replace("tokenizer: data/tiny-corpus/tokenizer.json",
                            "tokenizer: tests/fixtures/models/lowbit-tiny-llama3/tokenizer.json")
        path = os.path.join(tmp, "bench.yaml")
        open(path, "w").write(yaml)
        out = subprocess.run([os.path.join(a.build, "bin", "lowbit"), "train", path], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        ours = float(re.findall(r"(\d+) tok/s", out)[-1])

    cfg = transformers.LlamaConfig(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=8,
                                   num_key_value_heads=2, vocab_size=4096, rope_theta=500000.0,
                                   max_position_embeddings=2048)
    model = transformers.LlamaForCausalLM(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    x = torch.randint(0, 4096, (16, 257))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=x[:, :-1], labels=None).logits
        loss = torch.nn.functional.cross_entropy(loss.reshape(-1, 4096), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    ref = a.steps * 16 * 256 / (time.perf_counter() - t0)
    print(f"threads {a.threads}, torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"| training lowbit-tiny-llama3 shape, 16 x 256 tokens/step, fp32 AdamW (tokens/s) | lowbit {ours:.0f} | "
          f"PyTorch + transformers {ref:.0f} | ratio {ours / ref:.2f} |")


if __name__ == "__main__":
    main()
