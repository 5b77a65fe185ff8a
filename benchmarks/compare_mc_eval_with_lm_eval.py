"""Multiple-choice evaluation throughput: lowbit's plain path, lowbit's shared-context path and
lm-eval's `hf` model, on the same model directory, data and thread count.

Usage: benchmarks/compare_mc_eval_with_lm_eval.py BUILD_DIR [--corpus DIR] [--threads 2] [--docs 40]
           [--micro-batch 4] [--lm-eval-batch 1,4] [--repeat 1] [--keep DIR]

Model: `lowbit make-model --shape llama3-8b --layers 2 --seed 0` (the real LLaMA3-8B layer shapes, random
weights, vocabulary 128,256; fp32 on both sides) with the real Llama 3 tokenizer
(../shared/fixtures/llama3-tokenizer). Data: DOCS HellaSwag-style documents in lowbit's hellaswag layout
(docs/evaluation.md), 4 endings each, contexts of 100-200 tokens, cut deterministically from the tiny
corpus (launch/prepare_tiny_corpus.py; default BUILD_DIR/data/tiny-corpus).

Timed: lowbit — `score_requests` over the tokenized requests (lowbit_mc_bench, plain then shared); lm-eval
— its `loglikelihood` call (tokenization + scoring) inside `simple_evaluate` with its own hellaswag task
definition pointed at the local file, once per batch size. `lowbit eval --tasks hellaswag` also runs once
(the CLI's task timer, tokenization included) to show the command takes the shared path. Model loading is
excluded everywhere. Accuracies must be identical across all of them, and every log-likelihood within
1e-4 relative of lm-eval's (checked; the script exits 1 otherwise).
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from _require import require  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "launch"))
from prepare_tiny_eval import corpus_documents, write_jsonl  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
TOKENIZER_DIR = os.path.join(ROOT, "..", "shared", "fixtures", "llama3-tokenizer")


def make_model(build, work):
    d = os.path.join(work, "llama3-8b-2blocks")
    if os.path.exists(os.path.join(d, "tokenizer_config.json")):  # kept from an earlier run (--keep)
        return d
    subprocess.run([os.path.join(build, "bin", "lowbit"), "make-model", "--shape", "llama3-8b", "--layers", "2",
                    "--seed", "0", d], check=True, capture_output=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(TOKENIZER_DIR, f), os.path.join(d, f))
    return d


def hellaswag_docs(corpus, n, tokenizer):
    """n documents: activity label, a context of 100-200 tokens (as lm-eval formats it), its true ending
    (the text that follows) and 3 endings cut from other documents; words with brackets are left out
    (HellaSwag's preprocess would drop them)."""
    rng = random.Random(0)
    words = [w for d in corpus_documents(os.path.join(corpus, "test.txt")) for w in d.split()
             if "[" not in w and "]" not in w]
    docs, at = [], 0
    for i in range(n):
        target = rng.randint(100, 200)
        label = words[at].strip(".,;:!?\"'()") or "Thing"
        ctx_b = [w.lower() for w in words[at + 1:at + 4] if w.isascii()] or ["then"]  # capitalize() stays ASCII
        k = 8
        while True:  # the shortest ctx_a whose query reaches the target length
            ctx_a = " ".join(words[at + 4:at + 4 + k])
            query = f"{label}: {ctx_a} {' '.join(ctx_b).capitalize()}"
            if len(tokenizer.encode(query, add_special_tokens=False)) >= target:
                break
            k += 1
        start = at + 4 + k
        true_len = rng.randint(12, 30)
        endings = [" ".join(words[start:start + true_len])]
        for _ in range(3):
            s = rng.randrange(len(words) - 40)
            endings.append(" ".join(words[s:s + rng.randint(12, 30)]))
        gold = rng.randint(0, 3)
        endings[0], endings[gold] = endings[gold], endings[0]
        docs.append({"ind": i, "activity_label": label, "ctx_a": " ".join(words[at + 4:start]), "ctx_b": " ".join(ctx_b),
                     "ctx": "", "endings": endings, "source_id": f"bench{i}", "split": "val",
                     "split_type": "indomain", "label": str(gold)})
        docs[-1]["ctx"] = docs[-1]["ctx_a"] + " " + docs[-1]["ctx_b"]
        at = start + true_len + 1
    return docs


def lowbit_paths(build, model, data_file, threads, micro, repeat, work):
    out = os.path.join(work, "lowbit_mc.json")
    p = subprocess.run([os.path.join(build, "bin", "lowbit_mc_bench"), "--model", model, "--data", data_file,
                        "--threads", str(threads), "--micro-batch", str(micro), "--repeat", str(repeat), "--out", out],
                       check=True, capture_output=True, text=True)
    print(p.stdout, end="")
    return json.load(open(out))


def lowbit_cli(build, model, data_dir, threads, micro, work):
    out = os.path.join(work, "lowbit_eval.json")
    subprocess.run([os.path.join(build, "bin", "lowbit"), "eval", model, "--tasks", "hellaswag", "--data-dir", data_dir,
                    "--tokenization", "joint", "--micro-batch", str(micro), "--threads", str(threads), "--device", "cpu",
                    "--out", out], check=True, capture_output=True)
    return json.load(open(out))["tasks"]["hellaswag"]


def lm_eval_run(model, data_file, threads, batch, work):
    """lm-eval's hellaswag definition on the local file; returns (seconds in loglikelihood, results, per-request
    log-likelihoods in document order)."""
    torch, lm_eval = require("torch", "lm_eval")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    torch.set_num_threads(threads)
    tasks_dir = os.path.join(work, "lm_eval_tasks")
    os.makedirs(tasks_dir, exist_ok=True)
    builtin = os.path.join(os.path.dirname(lm_eval.__file__), "tasks", "hellaswag", "hellaswag.yaml")
    with open(os.path.join(tasks_dir, "bench_hellaswag.yaml"), "w") as f:
        f.write(f"include: {builtin}\ntask: bench_hellaswag\ntag: []\ndataset_path: json\ndataset_name: null\n"
                f"dataset_kwargs:\n  data_files:\n    validation: {os.path.abspath(data_file)}\n"
                "training_split: null\nvalidation_split: validation\ntest_split: null\n")
    lm = HFLM(pretrained=model, dtype="float32", device="cpu", batch_size=batch)
    timed = {"seconds": 0.0}
    inner = lm.loglikelihood

    def loglikelihood(requests, *args, **kwargs):
        t0 = time.perf_counter()
        r = inner(requests, *args, **kwargs)
        timed["seconds"] += time.perf_counter() - t0
        return r
    lm.loglikelihood = loglikelihood
    res = lm_eval.simple_evaluate(model=lm, tasks=["bench_hellaswag"], task_manager=TaskManager(include_path=tasks_dir),
                                  num_fewshot=0, log_samples=True)
    samples = sorted(res["samples"]["bench_hellaswag"], key=lambda s: s["doc_id"])
    lls = [float(r[0][0]) for s in samples for r in s["resps"]]
    r = res["results"]["bench_hellaswag"]
    del lm
    return timed["seconds"], {"acc": r["acc,none"], "acc_norm": r["acc_norm,none"]}, lls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--corpus", help="tiny corpus directory (default BUILD/data/tiny-corpus)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--lm-eval-batch", default="1,4")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", help="work in this directory and keep it")
    a = ap.parse_args()
    transformers = require("transformers")
    corpus = a.corpus or os.path.join(a.build, "data", "tiny-corpus")
    if not os.path.exists(os.path.join(corpus, "test.txt")):
        sys.exit(f"needs the tiny corpus in {corpus} (python3 launch/prepare_tiny_corpus.py {corpus})")
    work = a.keep or tempfile.mkdtemp(prefix="lowbit-mcbench-")
    os.makedirs(work, exist_ok=True)
    model = make_model(a.build, work)
    tok = transformers.AutoTokenizer.from_pretrained(model)
    docs = hellaswag_docs(corpus, a.docs, tok)
    data_dir = os.path.join(work, "data")
    data_file = os.path.join(data_dir, "hellaswag", "validation.jsonl")
    write_jsonl(data_file, docs)
    n_req = sum(len(d["endings"]) for d in docs)

    ours = lowbit_paths(a.build, model, data_file, a.threads, a.micro_batch, a.repeat, work)
    cli = lowbit_cli(a.build, model, data_dir, a.threads, a.micro_batch, work)
    refs = {}
    for b in (int(x) for x in a.lm_eval_batch.split(",")):
        refs[b] = lm_eval_run(model, data_file, a.threads, b, work)
        print(f"lm-eval batch {b}: {refs[b][0]:.2f} s  {n_req / refs[b][0]:.3f} requests/s  "
              f"acc {refs[b][1]['acc']:.4f}  acc_norm {refs[b][1]['acc_norm']:.4f}")

    failures = []
    best_ref = min(r[0] for r in refs.values())
    ref_lls = next(iter(refs.values()))[2]
    print(f"\n{len(docs)} documents x 4 endings = {n_req} requests, {a.threads} threads, torch {require('torch').__version__}")
    print("| path | seconds | requests/s | vs lm-eval (best batch) | acc | acc_norm | max rel. diff of log-likelihoods vs lm-eval |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [("lowbit, plain path (share_prefixes off)", ours["plain"]["seconds"], ours["plain"]),
            ("lowbit, shared contexts", ours["shared"]["seconds"], ours["shared"])]
    for name, sec, r in rows:
        rel = max(abs(x - y) / abs(y) for x, y in zip(r["loglikelihoods"], ref_lls))
        print(f"| {name} | {sec:.1f} | {n_req / sec:.2f} | {best_ref / sec:.2f} | {r['acc']:.3f} | {r['acc_norm']:.3f} | {rel:.1e} |")
        if rel > 1e-4:
            failures.append(f"{name}: log-likelihoods differ from lm-eval's by {rel:.1e}")
    print(f"| `lowbit eval --tasks hellaswag` (shared; task timer, tokenization included) | {cli['seconds']:.1f} | "
          f"{n_req / cli['seconds']:.2f} | {best_ref / cli['seconds']:.2f} | {cli['acc']:.3f} | {cli['acc_norm']:.3f} | |")
    for b, (sec, r, _) in refs.items():
        print(f"| lm-eval `hf`, batch size {b} | {sec:.1f} | {n_req / sec:.2f} | {best_ref / sec:.2f} | {r['acc']:.3f} | "
              f"{r['acc_norm']:.3f} | |")
    accs = {(r["acc"], r["acc_norm"]) for r in (ours["plain"], ours["shared"], cli)} | \
           {(r[1]["acc"], r[1]["acc_norm"]) for r in refs.values()}
    if len(accs) != 1:
        failures.append(f"accuracies differ: {accs}")
    if not a.keep:
        shutil.rmtree(work)
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
