"""`lowbit sweep` and `lowbit report` end to end on lowbit-tiny-llama3 (2 MPI ranks).

Usage: check_sweep_and_report.py LOWBIT REPO_DIR CORPUS_DIR WORK_DIR -- MPIRUN...
  - --dry-run of configs/sweeps/llama3-70b.yaml prints one mpirun (and one sbatch) line per row of
    the paper's 70B table, rows of methods lowbit lacks marked "not available yet";
  - the small-model sweep (FP, RTN and GPTQ at 4/3/2 bits g128, AWQ W4 g128, SmoothQuant W8A8, BiLLM
    "1.1", SliM-LLM 2-bit, and a row of an unknown method that must be refused)
    completes every available run, reports the refused one and exits non-zero; GPTQ beats RTN at 3
    and 2 bits; with one run's results removed (an interrupted sweep), a second start runs only that
    run and leaves the others untouched;
  - inspect shows SliM-LLM's width histograms;
  - report: the paper's LLaMA3-8B layout with paper, lowbit and difference columns (md, csv, tex;
    BiLLM and SliM-LLM under the paper's bit labels), and an SVG plot of the stated size.
"""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

from _tiny_setup import prepare_eval_data, tiny_experiment

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def main():
    sep = sys.argv.index("--")
    lowbit, repo, corpus, work = sys.argv[1:sep]
    mpirun = sys.argv[sep + 1:]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # Dry run: one line per row of the paper's 70B table.
    paper_rows = list(csv.DictReader(open(os.path.join(repo, "configs/paper/llama3_70b_ptq_v3.csv"))))
    for launcher, word in (("mpirun", "mpirun -np 8"), ("sbatch", "sbatch ")):
        out = subprocess.run([lowbit, "sweep", "--dry-run", "--launcher", launcher, "configs/sweeps/llama3-70b.yaml"],
                             cwd=repo, capture_output=True, text=True, check=True).stdout
        lines = [ln for ln in out.splitlines() if ln.startswith(word)]
        print(f"dry run ({launcher}): {len(lines)} lines for {len(paper_rows)} paper rows")
        check(len(lines) == len(paper_rows), f"{launcher}: {len(lines)} lines, {len(paper_rows)} rows in the paper")
        refused = [ln for ln in lines if "not available yet" in ln]
        have = ("RTN", "GPTQ", "AWQ", "SmoothQuant", "PB-LLM", "BiLLM", "SliM-LLM", "QuIP", "LLaMA3 (FP16)")  # lowbit's methods today
        check(len(refused) == sum(1 for r in paper_rows if r["method"] not in have),
              f"{launcher}: {len(refused)} refused lines")
        check(not any(m in ln for ln in refused for m in ("method 'awq'", "method 'smoothquant'")),
              f"{launcher}: an AWQ or SmoothQuant row is refused")

    # The small-model sweep.
    data = prepare_eval_data(repo, corpus, work)
    base = tiny_experiment(repo, corpus, "tiny-llama3-base.yaml", os.path.join(work, "base.yaml"),
                           os.path.join(repo, "tests/fixtures/models/lowbit-tiny-llama3"))
    runs = os.path.join(work, "runs")
    sweep = os.path.join(work, "sweep.yaml")
    open(sweep, "w").write(f"""name: tiny-check
base: {base}
runs_dir: {runs}
ranks: 2
fp: true
eval:
  tasks: [wikitext2, piqa]
  data_dir: {data}
  seq_len: 256
  limit: 16
grid:
  method.name: [rtn, gptq]
  method.bits: [4, 3, 2]
  method.group_size: [128]
rows:
  - {{method.name: awq, method.bits: 4, method.group_size: 128, distributed.propagation: full_precision}}
  - {{method.name: smoothquant, method.bits: 8, method.a_bits: 8, method.group_size: 0, distributed.propagation: full_precision}}
  - {{method.name: billm, method.bits: 1.1, method.group_size: 128}}
  - {{method.name: slim-llm, method.bits: 2, method.group_size: 128}}
  - {{method.name: no-such-method, method.bits: 4, method.group_size: 128}}
""")
    cmd = mpirun + ["-np", "2", lowbit, "sweep", sweep]
    p = subprocess.run(cmd, capture_output=True, text=True)
    out = p.stdout + p.stderr
    print("\n".join(out.splitlines()[-14:]))
    check(p.returncode != 0, "a sweep with a refused run must exit non-zero")
    check("failed: no-such-method-w4-g128: method 'no-such-method' is not available yet" in out,
          "the refused row is not reported")
    names = ["fp"] + [f"{m}-w{b}-g128" for m in ("rtn", "gptq") for b in (4, 3, 2)]
    names += ["awq-w4-g128-propagationfull_precision", "smoothquant-w8a8-pc-propagationfull_precision",
              "billm-w1.1-g128", "slim-llm-w2-g128"]
    for n in names:
        check(os.path.exists(os.path.join(runs, n, "results.json")), f"{n}: no results.json")
    ppl = {n: json.load(open(os.path.join(runs, n, "results.json")))["tasks"]["wikitext2"]["perplexity"] for n in names}
    print("perplexity:", {k: round(v, 3) for k, v in ppl.items()})
    for b in (3, 2):
        check(ppl[f"gptq-w{b}-g128"] < ppl[f"rtn-w{b}-g128"], f"GPTQ does not beat RTN at {b} bits")
    check(ppl["fp"] < ppl["rtn-w4-g128"] < ppl["rtn-w3-g128"] < ppl["rtn-w2-g128"], "RTN perplexity not monotone in bits")

    # `lowbit inspect` shows what a SmoothQuant block holds beyond its linears, and verifies it.
    ins = subprocess.run([lowbit, "inspect", os.path.join(runs, "smoothquant-w8a8-pc-propagationfull_precision")],
                         capture_output=True, text=True)
    check(ins.returncode == 0 and "verified:" in ins.stdout, f"inspect of the SmoothQuant run failed: {ins.stderr[-300:]}")
    check("activations: a8 per_token sym, q/k/v outputs too" in ins.stdout, "inspect: no forward spec shown")
    check("replaced input_layernorm.weight" in ins.stdout and "8-bit (8.0" in ins.stdout,
          "inspect: replaced parameters or bits per weight not shown")
    # ... and SliM-LLM's bit widths: per linear (down_proj's 6 groups) and over the shards.
    ins = subprocess.run([lowbit, "inspect", os.path.join(runs, "slim-llm-w2-g128")], capture_output=True, text=True)
    check(ins.returncode == 0 and "verified:" in ins.stdout, f"inspect of the SliM-LLM run failed: {ins.stderr[-300:]}")
    check(re.search(r"mlp\.down_proj +mixed_uniform 2-bit .* widths 1: 16\.7%, 2: 66\.7%, 3: 16\.7%", ins.stdout) is not None,
          "inspect: no width histogram for SliM-LLM's down_proj")
    check("bit widths over " in ins.stdout, "inspect: no shard-wide width histogram")

    # Interrupted: one run's results gone; a second start runs only that run.
    os.remove(os.path.join(runs, "gptq-w3-g128", "results.json"))
    before = {n: os.path.getmtime(os.path.join(runs, n, "results.json")) for n in names if n != "gptq-w3-g128"}
    out2 = subprocess.run(cmd, capture_output=True, text=True).stdout
    check("1 done, 10 skipped (already done), 1 failed" in out2, "the restarted sweep did not run exactly the missing run")
    check(os.path.exists(os.path.join(runs, "gptq-w3-g128", "results.json")), "the missing run was not completed")
    check(all(os.path.getmtime(os.path.join(runs, n, "results.json")) == t for n, t in before.items()),
          "a finished run was recomputed")

    # Report beside the paper's LLaMA3-8B table.
    md = subprocess.run([lowbit, "report", runs, "--paper", "llama3-8b", "--plot", os.path.join(work, "plot.svg")],
                        cwd=repo, capture_output=True, text=True, check=True).stdout
    print("\n".join(md.splitlines()[:4]))
    check(md.startswith("| Method | #W | #A | G | WikiText2 paper | WikiText2 lowbit | Δ | C4 paper |"), "md header")
    rtn4 = ppl["rtn-w4-g128"]
    check(f"| RTN | 4 | 16 | 128 | 8.5 | {rtn4:.2f} | +{rtn4 - 8.5:.1f} |" in md, "md: the RTN W4 g128 row")
    check(md.splitlines()[2].startswith("| LLaMA3 (FP16) | 16 | 16 | - | 6.1 | "), "md: the FP row is not first")
    paper8 = list(csv.DictReader(open(os.path.join(repo, "configs/paper/llama3_8b_ptq_v3.csv"))))
    check(sum(1 for ln in md.splitlines() if ln.startswith("|")) == 2 + len(paper8), "md: one line per paper row")
    rows = list(csv.reader(io.StringIO(subprocess.run([lowbit, "report", runs, "--paper", "llama3-8b", "--format", "csv"],
                                                      cwd=repo, capture_output=True, text=True, check=True).stdout)))
    g3 = [r for r in rows if r[:4] == ["GPTQ", "3", "16", "128"]][0]
    # AWQ and SmoothQuant runs on their paper rows; the W8A8 row's #A is the run's activation bits.
    a4 = [r for r in rows if r[:4] == ["AWQ", "4", "16", "128"]][0]
    check(abs(float(a4[5]) - ppl["awq-w4-g128-propagationfull_precision"]) < 0.006, f"csv: AWQ W4 g128 row {a4[:7]}")
    sq = [r for r in rows if r[:4] == ["SmoothQuant", "8", "8", "-"]][0]
    check(abs(float(sq[5]) - ppl["smoothquant-w8a8-pc-propagationfull_precision"]) < 0.006,
          f"csv: SmoothQuant W8A8 row {sq[:7]}")
    check(g3[4] == "8.2" and abs(float(g3[5]) - ppl["gptq-w3-g128"]) < 0.006, f"csv: GPTQ W3 g128 row {g3[:7]}")
    # The ultra-low-bit rows under the paper's labels: BiLLM "1.1", SliM-LLM "2".
    for method, bits, run in (("BiLLM", "1.1", "billm-w1.1-g128"), ("SliM-LLM", "2", "slim-llm-w2-g128")):
        r = [r for r in rows if r[:4] == [method, bits, "16", "128"]][0]
        check(abs(float(r[5]) - ppl[run]) < 0.006, f"csv: {method} {bits} g128 row {r[:7]}")
    tex = subprocess.run([lowbit, "report", runs, "--paper", "llama3-8b", "--format", "tex"], cwd=repo,
                         capture_output=True, text=True, check=True).stdout
    check(tex.startswith("\\begin{tabular}") and tex.rstrip().endswith("\\end{tabular}"), "tex: not a tabular")
    svg = ET.parse(os.path.join(work, "plot.svg")).getroot()
    check(svg.tag.endswith("svg") and svg.get("width") == "800" and svg.get("height") == "500", "svg: size")
    lines = [e for e in svg.iter() if e.tag.endswith("polyline")]
    check(len(lines) == 12, f"svg: {len(lines)} polylines (want lowbit and paper for rtn, gptq, awq, smoothquant, billm, slim-llm)")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("sweep and report checks passed")


if __name__ == "__main__":
    main()
