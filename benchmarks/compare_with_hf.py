"""lowbit's model core beside the Hugging Face packages, same machine, same inputs, one run.

Usage: benchmarks/compare_with_hf.py BUILD_DIR LLAMA3_TOKENIZER_JSON [--threads N]
Prints one table: tokenizer MB/s (lowbit vs `tokenizers`), forward tokens/s (lowbit vs
transformers LlamaForCausalLM, fp32 and bf16) on a small model and on one block of the real
LLaMA3-8B shapes, and libtorch's matmul GFLOP/s (the floor both sides stand on).
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch, transformers, tokenizers = require("torch", "transformers", "tokenizers")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import make_tokenizer_cases  # noqa: E402

# name -> (LlamaConfig fields, batch, seq)
SHAPES = {
    "small (hidden 512, 8 blocks, vocab 8192)": (dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                                                      num_attention_heads=8, num_key_value_heads=2, vocab_size=8192), 4, 256),
    "LLaMA3-8B block shapes (1 block, vocab 4096)": (dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=1,
                                                          num_attention_heads=32, num_key_value_heads=8, vocab_size=4096), 1, 512),
}


def best(repeat, f):
    t = 1e30
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


def lowbit_bench(bench, threads, *args):
    out = subprocess.run([bench, "--threads", str(threads), *args], check=True, capture_output=True, text=True).stdout
    return out.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("tokenizer")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    bench = os.path.join(a.build, "bin", "lowbit_bench")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Tokenizer: the 3 MB mixed text of the reference tests.
        texts = make_tokenizer_cases.all_texts()
        import random
        text = make_tokenizer_cases.big_text(texts, random.Random(7))
        path = os.path.join(tmp, "big.txt")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        mb = len(text.encode("utf-8")) / 1e6
        hf = tokenizers.Tokenizer.from_file(a.tokenizer)
        t_hf = best(3, lambda: hf.encode(text))
        line = lowbit_bench(bench, a.threads, "tokenize", "--tokenizer", a.tokenizer, "--file", path)
        ours = float(re.search(r"= ([\d.]+) MB/s", line).group(1))
        rows.append(("tokenize 3 MB, Llama 3 vocab (MB/s)", ours, mb / t_hf))

        for name, (fields, batch, seq) in SHAPES.items():
            d = os.path.join(tmp, re.sub(r"\W+", "_", name))
            cfg = transformers.LlamaConfig(rope_theta=500000.0, max_position_embeddings=2048, **fields)
            torch.manual_seed(0)
            transformers.LlamaForCausalLM(cfg).save_pretrained(d)
            ids = torch.randint(0, cfg.vocab_size, (batch, seq))
            for dtype, tdtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
                m = transformers.LlamaForCausalLM.from_pretrained(d, dtype=tdtype).eval()
                with torch.inference_mode():
                    m(input_ids=ids)
                    t_hf = best(3, lambda: m(input_ids=ids))
                del m
                line = lowbit_bench(bench, a.threads, "forward", "--model", d, "--batch", str(batch), "--seq", str(seq),
                                    "--dtype", dtype)
                ours = float(re.search(r"= ([\d.]+) tokens/s", line).group(1))
                rows.append((f"forward {name}, {batch}x{seq}, {dtype} (tokens/s)", ours, batch * seq / t_hf))

        line = lowbit_bench(bench, a.threads, "matmul", "--n", "2048")
        ours = float(re.search(r"= ([\d.]+) GFLOP/s", line).group(1))
        x, y = torch.randn(2048, 2048), torch.randn(2048, 2048)
        torch.mm(x, y)
        rows.append(("matmul 2048^3 fp32 (GFLOP/s)", ours, 2 * 2048 ** 3 / best(3, lambda: torch.mm(x, y)) / 1e9))

    print(f"threads {a.threads}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"tokenizers {tokenizers.__version__}")
    print(f"| {'measure':<72} | {'lowbit':>10} | {'Hugging Face':>12} | {'ratio':>6} |")
    print(f"|{'-' * 74}|{'-' * 12}|{'-' * 14}|{'-' * 8}|")
    for what, ours, ref in rows:
        print(f"| {what:<72} | {ours:>10.1f} | {ref:>12.1f} | {ours / ref:>6.2f} |")


if __name__ == "__main__":
    main()
