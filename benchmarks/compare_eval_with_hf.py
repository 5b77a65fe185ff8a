"""Evaluation throughput: `lowbit eval` beside the same perplexity protocol computed with Hugging
Face transformers (LlamaForCausalLM, fp32, windows of seq_len scored one forward each, cross
entropy over all positions), same machine, same threads, same text, one run.

Usage: benchmarks/compare_eval_with_hf.py BUILD_DIR [--threads 2] [--repeat 2]
Models: lowbit-tiny-llama3 (seq 256, 32 windows) and a 2-block model with the real LLaMA3-8B shapes
(random weights, vocab 128256, seq 512, 4 windows) written by `lowbit make-model`. Prints tokens/s
for both and the ratio; the perplexities must agree (they are checked to 1e-4).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from _require import require  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch, transformers, tokenizers = require("torch", "transformers", "tokenizers")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def hf_perplexity(model_dir, text_path, seq, windows, micro):
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    ids = tok.encode(open(text_path, encoding="utf-8", newline="").read()).ids
    ids = ids[: seq * windows]
    model = transformers.LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    t0 = time.perf_counter()
    nll = 0.0
    with torch.no_grad():
        for i in range(0, windows, micro):
            x = torch.tensor(ids[i * seq:(i + micro) * seq]).view(-1, seq)
            logits = model(input_ids=x).logits
            nll += torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                                     x[:, 1:].reshape(-1), reduction="sum").item()
    sec = time.perf_counter() - t0
    return float(torch.tensor(nll / (windows * (seq - 1))).exp()), windows * seq / sec


def lowbit_perplexity(build, model_dir, data_dir, seq, windows, micro, threads, work):
    out = os.path.join(work, "r.json")
    subprocess.run([os.path.join(build, "bin", "lowbit"), "eval", model_dir, "--tasks", "wikitext2", "--data-dir",
                    data_dir, "--seq-len", str(seq), "--limit", str(windows), "--micro-batch", str(micro),
                    "--threads", str(threads), "--out", out], check=True, capture_output=True)
    r = json.load(open(out))["tasks"]["wikitext2"]
    return r["perplexity"], windows * seq / r["seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = tempfile.mkdtemp(prefix="lowbit-evalbench-")
    data = os.path.join(work, "data")
    os.makedirs(os.path.join(data, "wikitext2"))
    corpus = os.path.join(ROOT, "data", "tiny-corpus", "test.txt")
    if not os.path.exists(corpus):
        sys.exit("needs data/tiny-corpus (python3 launch/prepare_tiny_corpus.py data/tiny-corpus)")
    shutil.copyfile(corpus, os.path.join(data, "wikitext2", "test.txt"))
    tiny = os.path.join(ROOT, "tests", "fixtures", "models", "lowbit-tiny-llama3")
    big = os.path.join(work, "llama3-8b-2blocks")
    subprocess.run([os.path.join(a.build, "bin", "lowbit"), "make-model", "--shape", "llama3-8b", "--layers", "2",
                    "--seed", "0", big], check=True, capture_output=True)
    shutil.copyfile(os.path.join(tiny, "tokenizer.json"), os.path.join(big, "tokenizer.json"))  # ids < 4096 fit
    print(f"threads {a.threads}, torch {torch.__version__}, best of {a.repeat}")
    print("| model | seq × windows | lowbit tokens/s | transformers tokens/s | ratio | perplexity (lowbit / transformers) |")
    print("|---|---|---:|---:|---:|---|")
    for name, d, seq, windows, micro in (("lowbit-tiny-llama3", tiny, 256, 32, 4),
                                         ("LLaMA3-8B shapes, 2 blocks", big, 512, 4, 1)):
        ours = max((lowbit_perplexity(a.build, d, data, seq, windows, micro, a.threads, work) for _ in range(a.repeat)),
                   key=lambda r: r[1])
        ref = max((hf_perplexity(d, os.path.join(data, "wikitext2", "test.txt"), seq, windows, micro)
                   for _ in range(a.repeat)), key=lambda r: r[1])
        assert abs(ours[0] / ref[0] - 1) < 1e-4, (ours, ref)
        print(f"| {name} | {seq} × {windows} | {ours[1]:,.0f} | {ref[1]:,.0f} | {ours[1] / ref[1]:.2f} | "
              f"{ours[0]:.4f} / {ref[0]:.4f} |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
