"""GPTQ seconds per linear: lowbit's solver beside the same algorithm written plainly in Python
torch (tests/reference/make_gptq_cases.py's `gptq`, a transcription of METHODS.md §5), on the
LLaMA3-8B linear shapes, same machine, same threads, 4 bits, group 128, best of N.

Usage: benchmarks/compare_gptq_with_python.py BUILD_DIR [--repeat N] [--shapes 4096x4096,...]
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from _require import require  # noqa: E402

torch = require("torch")
import make_gptq_cases  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--shapes", default="4096x4096,14336x4096,4096x14336")
    ap.add_argument("--tokens", type=int, default=8192)
    a = ap.parse_args()
    bench = os.path.join(a.build, "bin", "lowbit_bench")
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}")
    print("| W [out, in] | lowbit s/linear | plain PyTorch s/linear | speed-up |")
    print("|---|---:|---:|---:|")
    for shape in a.shapes.split(","):
        rows, cols = map(int, shape.split("x"))
        out = subprocess.run([bench, "--repeat", str(a.repeat), "gptq", "--rows", str(rows), "--cols", str(cols),
                              "--tokens", str(a.tokens)], check=True, capture_output=True, text=True).stdout
        ours = float(re.search(r"([\d.]+) s per linear", out).group(1))
        x = torch.randn(a.tokens, cols) @ (torch.eye(cols) + 0.05 * torch.randn(cols, cols))
        H = 2.0 * (x.t() @ x)
        W = 0.02 * torch.randn(rows, cols)
        best = 1e30
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            make_gptq_cases.gptq(W, H, 4, 128, False, False, False, 128)
            best = min(best, time.perf_counter() - t0)
        print(f"| {rows} x {cols} | {ours:.2f} | {best:.2f} | {best / ours:.2f} |", flush=True)


if __name__ == "__main__":
    main()
