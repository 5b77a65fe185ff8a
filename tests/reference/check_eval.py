"""`lowbit eval` against the reference numbers of make_eval_cases.py, and across world sizes.

Usage: check_eval.py LOWBIT CASES_DIR MPI_RUN_DIR WORK_DIR -- MPIRUN...
  - one process, every task: perplexity equals transformers' to 1e-4 relative; piqa, arc_easy,
    arc_challenge, hellaswag, winogrande acc/acc_norm equal lm-eval's (tokenization=joint, lm-eval
    0.4's convention); MMLU accuracy equals the IR-QLoRA procedure's;
  - mpirun -np 1, 2, 3: the same numbers, for the FP model and for a quantized run directory (whose
    perplexity must exceed the FP model's: the shards are applied);
  - bad input: a malformed JSONL line, an out-of-range label, a missing data file and a text
    shorter than one window each stop with one clear message and leave no results file.
"""
import json
import os
import shutil
import subprocess
import sys

MC = ["piqa", "arc_easy", "arc_challenge", "hellaswag", "winogrande"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(cmd, expect_ok=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def main():
    sep = sys.argv.index("--")
    lowbit, cases, run_dir, work = sys.argv[1:sep]
    mpirun = sys.argv[sep + 1:]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    exp = json.load(open(os.path.join(cases, "expected.json")))
    data = os.path.join(cases, "data")
    model = os.path.join(cases, "hf-model")
    common = ["--data-dir", data, "--seq-len", str(exp["seq_len"]), "--c4-windows", str(exp["c4_windows"]),
              "--tokenization", "joint"]

    out = os.path.join(work, "fp.json")
    run([lowbit, "eval", model, "--tasks", ",".join(["wikitext2", "c4", "ptb"] + MC + ["mmlu"]), "--out", out] + common)
    got = json.load(open(out))["tasks"]
    for t, e in exp["perplexity"].items():
        rel = abs(got[t]["perplexity"] / e["perplexity"] - 1)
        print(f"{t}: lowbit {got[t]['perplexity']:.6f} transformers {e['perplexity']:.6f} (rel {rel:.2e})")
        check(rel <= 1e-4 and got[t]["windows"] == e["windows"], f"{t} perplexity/windows")
    for t in MC:
        for m, v in exp["multiple_choice"][t].items():
            print(f"{t} {m}: lowbit {got[t][m]} lm-eval {v}")
            check(got[t][m] == v if m != "docs" else got[t]["docs"] == v, f"{t} {m}")
    print(f"mmlu: lowbit {got['mmlu']['acc']} reference {exp['mmlu']['acc']}")
    check(got["mmlu"]["acc"] == exp["mmlu"]["acc"] and got["mmlu"]["questions"] == exp["mmlu"]["questions"], "mmlu acc")
    for s, a in exp["mmlu"]["subjects"].items():
        check(got["mmlu"]["subjects"][s]["acc"] == a, f"mmlu subject {s}")
    # Shots dropped to fit a 200-token limit, as the reference loop does.
    out = os.path.join(work, "mmlu200.json")
    run([lowbit, "eval", model, "--tasks", "mmlu", "--mmlu-max-tokens", "200", "--out", out] + common)
    m200 = json.load(open(out))["tasks"]["mmlu"]
    print(f"mmlu (200 tokens): lowbit {m200['acc']} reference {exp['mmlu_max_tokens_200']['acc']}, "
          f"{m200['questions_with_fewer_shots']} prompts with fewer shots")
    check(m200["acc"] == exp["mmlu_max_tokens_200"]["acc"], "mmlu acc with shots dropped")
    check(m200["questions_with_fewer_shots"] > 0, "no MMLU prompt needed fewer shots at 200 tokens")

    # World sizes: the FP model and a quantized run directory.
    tasks = ["--tasks", "wikitext2,c4,piqa,winogrande,mmlu", "--limit", "12", "--threads", "1"] + common
    for name, target in (("fp", model), ("run", run_dir)):
        results = {}
        for np_ in (1, 2, 3):
            o = os.path.join(work, f"{name}_np{np_}.json")
            run(mpirun + ["-np", str(np_), lowbit, "eval", target, "--out", o] + tasks)
            results[np_] = json.load(open(o))["tasks"]
        metrics = lambda r: {t: {k: v for k, v in m.items() if k not in ("seconds",)} for t, m in r.items()}  # noqa: E731
        check(metrics(results[1]) == metrics(results[2]) == metrics(results[3]), f"{name}: results differ across 1/2/3 ranks")
        print(f"{name}: wikitext2 {results[1]['wikitext2']['perplexity']:.4f} on 1, 2 and 3 ranks:",
              [results[n]["wikitext2"]["perplexity"] for n in (1, 2, 3)])
        if name == "run":
            fp = json.load(open(os.path.join(work, "fp_np1.json")))["tasks"]["wikitext2"]["perplexity"]
            check(results[1]["wikitext2"]["perplexity"] > fp, "the quantized run's perplexity is not above FP")

    # The results file accumulates: other tasks and settings are added, a --limit result never
    # replaces a full one, and a file of another target is refused and left as it was.
    acc = os.path.join(work, "accumulate.json")
    run([lowbit, "eval", model, "--tasks", "wikitext2", "--out", acc] + common)
    full = json.load(open(acc))["tasks"]["wikitext2"]["perplexity"]
    run([lowbit, "eval", model, "--tasks", "piqa", "--limit", "4", "--out", acc] + common)
    run([lowbit, "eval", model, "--tasks", "wikitext2", "--limit", "1", "--out", acc] + common)
    doc = json.load(open(acc))
    check(set(doc["tasks"]) == {"wikitext2", "piqa"}, f"results of earlier tasks were lost: {sorted(doc['tasks'])}")
    check(doc["tasks"]["wikitext2"]["perplexity"] == full and doc["tasks"]["wikitext2"]["settings"]["limit"] == 0,
          "a --limit result replaced the full one")
    check(sorted((r["task"], r["settings"]["limit"]) for r in doc["results"]) == [("piqa", 4), ("wikitext2", 0), ("wikitext2", 1)],
          f"not every result was kept: {[(r['task'], r['settings']['limit']) for r in doc['results']]}")
    before = open(acc, "rb").read()
    p = run([lowbit, "eval", run_dir, "--tasks", "wikitext2", "--limit", "1", "--out", acc] + common, expect_ok=False)
    check(p.returncode != 0 and "another target" in p.stdout + p.stderr, "another target's results were mixed in")
    check(open(acc, "rb").read() == before, "a refused evaluation changed the results file")
    print(f"results file: {len(doc['results'])} results kept, another target refused")

    # A manifest whose shard path leaves the run directory is refused, the file never opened.
    escaped = os.path.join(work, "escaped-run")
    shutil.copytree(run_dir, escaped)
    m = json.load(open(os.path.join(escaped, "manifest.json")))
    m["shards"][0]["file"] = "../../" + os.path.basename(m["shards"][0]["file"])
    json.dump(m, open(os.path.join(escaped, "manifest.json"), "w"))
    for f in ("results.json",):
        if os.path.exists(os.path.join(escaped, f)):
            os.remove(os.path.join(escaped, f))
    p = run([lowbit, "eval", escaped, "--tasks", "wikitext2", "--limit", "1"] + common, expect_ok=False)
    check(p.returncode != 0 and "outside the run directory" in p.stdout + p.stderr,
          f"a shard path outside the run was not refused: {(p.stdout + p.stderr)[-300:]}")

    # Non-finite numbers never become results: a NaN weight is refused at load naming the tensor,
    # and weights that overflow in the forward pass (a final norm of 3e38) stop the evaluation at
    # the first non-finite log-likelihood; neither writes a results file.
    from safetensors.torch import load_file, save_file
    def set_nan(t):
        t.view(-1)[7] = float("nan")
    for name, key, edit, needles in [
            ("nan-weight", "model.layers.0.mlp.up_proj.weight", set_nan,
             ["model.layers.0.mlp.up_proj.weight", "1 non-finite value(s)"]),
            ("overflowing", "model.norm.weight", lambda t: t.fill_(3e38), ["wikitext2", "not finite", "NaN/Inf"])]:
        broken = os.path.join(work, name)
        shutil.copytree(model, broken)
        for f in os.listdir(broken):
            if f.endswith(".safetensors"):
                t = load_file(os.path.join(broken, f))
                if key in t:
                    edit(t[key])
                    save_file(t, os.path.join(broken, f), metadata={"format": "pt"})
        o = os.path.join(work, f"{name}.json")
        p = run([lowbit, "eval", broken, "--tasks", "wikitext2", "--limit", "1", "--out", o] + common, expect_ok=False)
        msg = p.stdout + p.stderr
        print(f"{name}: rc {p.returncode}: {[ln for ln in msg.splitlines() if 'error' in ln.lower()][:1]}")
        check(p.returncode != 0 and all(n in msg for n in needles), f"{name}: not refused with {needles}: {msg[-400:]}")
        check(not os.path.exists(o), f"{name}: a results file was written")

    # Options are checked against what lowbit knows and the model's limits, before any work.
    for args, needles in [
            (["--tasks", "wikitext2", "--seq-len", "100000"], ["--seq-len 100000", "max_position_embeddings"]),
            (["--tasks", "wikitext2,wikitext2"], ["--tasks names 'wikitext2' twice"]),
            (["--tasks", "wikitext2", "--data", "piqa=x.jsonl"], ["--data piqa=x.jsonl", "not among --tasks"]),
            (["--tasks", "wikitext2", "--data", "pika=x.jsonl"], ["--data pika=x.jsonl", "not a task lowbit knows"]),
            (["--tasks", "wikitext2", "--limit", "-1"], ["--limit must be >= 0"])]:
        o = os.path.join(work, "bad_option.json")
        p = run([lowbit, "eval", model, "--out", o, "--data-dir", data] + args, expect_ok=False)
        msg = p.stdout + p.stderr
        check(p.returncode != 0 and all(n in msg for n in needles) and not os.path.exists(o),
              f"{args}: not refused with {needles}: {msg[-300:]}")

    # Bad input: one clear message, no results file.
    bad = os.path.join(work, "bad")
    shutil.copytree(data, bad)
    lines = open(os.path.join(bad, "piqa", "validation.jsonl")).read().splitlines()
    lines[2] = lines[2][:-3]  # truncated JSON
    open(os.path.join(bad, "piqa", "validation.jsonl"), "w").write("\n".join(lines) + "\n")
    rows = [json.loads(x) for x in open(os.path.join(bad, "arc_easy", "test.jsonl"))]
    rows[4]["answerKey"] = "Z"
    open(os.path.join(bad, "arc_easy", "test.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in rows))
    rows = [json.loads(x) for x in open(os.path.join(bad, "hellaswag", "validation.jsonl"))]
    rows[1]["label"] = "7"
    open(os.path.join(bad, "hellaswag", "validation.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in rows))
    os.remove(os.path.join(bad, "winogrande", "validation.jsonl"))
    open(os.path.join(bad, "ptb", "test.txt"), "w").write("too short")
    cases_bad = [
        ("piqa", ["piqa/validation.jsonl:3", "not valid JSON"]),
        ("arc_easy", ["arc_easy/test.jsonl:5", "answerKey 'Z'"]),
        ("hellaswag", ["hellaswag/validation.jsonl:2", "out of range"]),
        ("winogrande", ["winogrande/validation.jsonl", "does not exist"]),
        ("ptb", ["ptb/test.txt", "shorter than one window"]),
    ]
    for task, needles in cases_bad:
        o = os.path.join(work, f"bad_{task}.json")
        p = run(mpirun + ["-np", "2", lowbit, "eval", model, "--tasks", task, "--out", o, "--data-dir", bad,
                          "--seq-len", "64"], expect_ok=False)
        msg = p.stdout + p.stderr
        errors = [ln for ln in msg.splitlines() if "error" in ln.lower()]
        print(f"bad {task}: rc {p.returncode}: {errors[:1]}")
        check(p.returncode != 0, f"bad {task}: exit status 0")
        check(all(n in msg for n in needles), f"bad {task}: message lacks {needles}: {msg[-400:]}")
        check(len(errors) == 1, f"bad {task}: {len(errors)} error lines, expected one")
        check(not os.path.exists(o), f"bad {task}: a results file was written")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all evaluation checks passed")


if __name__ == "__main__":
    main()
