"""Training throughput of `lowbit train` beside PyTorch training transformers' LlamaForCausalLM,
same machine, same model shape and batch (both read from configs/train/tiny-llama3.yaml), AdamW, fp32.

Usage: benchmarks/compare_training_with_hf.py BUILD_DIR [--steps N] [--threads N]
Needs the tiny corpus (launch/prepare_tiny_corpus.py data/tiny-corpus) and the fixture tokenizer.
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

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch, transformers, yaml_lib = require("torch", "transformers", "yaml")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    config_path = os.path.join(ROOT, "configs/train/tiny-llama3.yaml")
    config = yaml_lib.safe_load(open(config_path))
    shape, train = config["model"], config["training"]
    batch, seq = train["micro_batch"] * train["grad_accum"], config["data"]["seq_len"]
    with tempfile.TemporaryDirectory() as tmp:
        yaml = open(config_path).read()
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

    fixture = os.path.join(ROOT, "tests/fixtures/models/lowbit-tiny-llama3/config.json")
    vocab = json.load(open(fixture))["vocab_size"]  # the training config takes it from the tokenizer
    cfg = transformers.LlamaConfig(**{k: shape[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                            "num_attention_heads", "num_key_value_heads",
                                                            "rope_theta", "rms_norm_eps")},
                                   vocab_size=vocab,
                                   max_position_embeddings=2048, tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=train["lr"], betas=(train["beta1"], train["beta2"]),
                            weight_decay=train["weight_decay"])
    x = torch.randint(0, vocab, (batch, seq + 1))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=x[:, :-1], labels=None).logits
        loss = torch.nn.functional.cross_entropy(loss.reshape(-1, vocab), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train["grad_clip"])
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    ref = a.steps * batch * seq / (time.perf_counter() - t0)
    print(f"threads {a.threads}, torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"| training lowbit-tiny-llama3 shape ({shape['num_hidden_layers']} blocks), {batch} x {seq} tokens/step, "
          f"fp32 AdamW (tokens/s) | lowbit {ours:.0f} | "
          f"PyTorch + transformers {ref:.0f} | ratio {ours / ref:.2f} |")


if __name__ == "__main__":
    main()
