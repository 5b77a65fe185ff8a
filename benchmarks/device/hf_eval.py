#!/usr/bin/env python3
"""Transformers' side of the device check's evaluation figure (benchmarks/device/check.sh): the
perplexity protocol of `lowbit eval --tasks wikitext2` (benchmarks/compare_eval_with_hf.py's
hf_perplexity) on the same model directory and text: the text tokenized whole with the model's
tokenizer.json, the first LIMIT windows of SEQ_LEN tokens, MICRO windows per forward, cross entropy
over every position but the first of each window; LlamaForCausalLM in bf16 on CUDA (fp32 on CPU: the
dtypes lowbit computes in on each device). Prints tokens/s (all windows, from the first forward, as
lowbit's own timer counts; and without the first forward) and the perplexity, beside lowbit's when
--lowbit-results names its results.json.

Usage: hf_eval.py MODEL_DIR TEXT --seq-len 2048 --limit 16 [--micro-batch 4] [--device cuda]
                  [--lowbit-results results.json] [--out hf.json]
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("text")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lowbit-results")
    ap.add_argument("--out")
    a = ap.parse_args()

    t_import = time.perf_counter()
    import torch
    import tokenizers
    import transformers
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    print(f"hf_eval: torch {torch.__version__}, transformers {transformers.__version__}, {dev}, {dtype}, "
          f"imports {time.perf_counter() - t_import:.1f} s", flush=True)

    tok = tokenizers.Tokenizer.from_file(os.path.join(a.model_dir, "tokenizer.json"))
    ids = tok.encode(open(a.text, encoding="utf-8", newline="").read()).ids
    windows = min(a.limit, len(ids) // a.seq_len)
    if windows < 1:
        sys.exit(f"hf_eval: {a.text}: {len(ids)} tokens, fewer than one window of {a.seq_len}")
    ids = torch.tensor(ids[: windows * a.seq_len]).view(windows, a.seq_len)

    t_load = time.perf_counter()
    model = transformers.LlamaForCausalLM.from_pretrained(a.model_dir, dtype=dtype).to(dev).eval()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    print(f"hf_eval: model loaded in {time.perf_counter() - t_load:.1f} s", flush=True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    nll, first_s = 0.0, None
    sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, windows, a.micro_batch):
            x = ids[i:i + a.micro_batch].to(dev)
            logits = model(input_ids=x).logits
            nll += torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                                                     x[:, 1:].reshape(-1), reduction="sum").item()
            if first_s is None:
                first_s = time.perf_counter() - t0
    sync()
    total_s = time.perf_counter() - t0
    ppl = math.exp(nll / (windows * (a.seq_len - 1)))
    tps = windows * a.seq_len / total_s
    rest = windows - min(a.micro_batch, windows)
    tps_steady = rest * a.seq_len / (total_s - first_s) if rest > 0 and total_s > first_s else float("nan")
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    res = {"windows": windows, "seq_len": a.seq_len, "micro_batch": a.micro_batch, "seconds": total_s,
           "tokens_per_s": tps, "tokens_per_s_after_first_forward": tps_steady, "perplexity": ppl,
           "peak_allocated_gib": peak, "device": str(dev), "dtype": str(dtype).replace("torch.", ""),
           "torch": torch.__version__, "transformers": transformers.__version__}
    print(f"hf_eval: {windows} x {a.seq_len} tokens in {total_s:.2f} s: {tps:,.0f} tokens/s "
          f"({tps_steady:,.0f} after the first forward), perplexity {ppl:.4f}, "
          f"torch peak allocated {peak:.1f} GiB", flush=True)
    if a.lowbit_results and os.path.exists(a.lowbit_results):
        r = json.load(open(a.lowbit_results))["tasks"]["wikitext2"]
        lt = windows * a.seq_len / r["seconds"]
        res["lowbit"] = {"perplexity": r["perplexity"], "seconds": r["seconds"], "tokens_per_s": lt}
        print(f"hf_eval: lowbit {lt:,.0f} tokens/s, perplexity {r['perplexity']:.4f} "
              f"(relative difference {abs(r['perplexity'] / ppl - 1):.2e}); lowbit / transformers {lt / tps:.2f}")
    if a.out:
        json.dump(res, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
