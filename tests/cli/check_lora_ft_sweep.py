"""The LoRA-FT table end to end on lowbit-tiny-llama3: `lowbit sweep` runs NormalFloat (NF4), QLoRA
(NF4, then `finetune` LoRA) and IR-QLoRA (NF4 with ICQ, then LoRA with IEC) rows and evaluates them
(5-shot MMLU and PIQA on the project's small eval data); `lowbit report --paper lora-ft` lays them
out under the study's labels with lowbit's numbers filled in; the dry run of the LLaMA3-8B LoRA-FT
sweep prints one command per row of the paper's table.
Usage: check_lora_ft_sweep.py LOWBIT REPO_DIR CORPUS_DIR INSTRUCTIONS_DIR WORK_DIR"""
import csv
import json
import os
import shutil
import subprocess
import sys

from _tiny_setup import prepare_eval_data, tiny_experiment

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


lowbit, repo, corpus, instructions, work = sys.argv[1:6]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

# Dry run of the study's sweep: one line per LLaMA3-8B row of the paper's LoRA-FT table.
paper = [r for r in csv.DictReader(open(os.path.join(repo, "configs/paper/lora_ft_v3.csv"))) if r["model"] == "LLaMA3-8B"]
out = subprocess.run([lowbit, "sweep", "--dry-run", "configs/sweeps/llama3-8b-lora-ft.yaml"], cwd=repo,
                     capture_output=True, text=True, check=True).stdout
lines = [ln for ln in out.splitlines() if ln.startswith("mpirun")]
print(out)
check(len(lines) == len(paper), f"dry run: {len(lines)} lines for {len(paper)} paper rows")
check(not any("refused" in ln for ln in lines), "dry run: a row is refused")

data = prepare_eval_data(repo, corpus, work)
base = tiny_experiment(repo, corpus, "tiny-llama3-rtn-w4g128.yaml", os.path.join(work, "nf4.yaml"),
                       os.path.join(repo, "configs/models/lowbit-tiny-llama3.yaml"),
                       [("  name: rtn\n  bits: 4\n  group_size: 128\n", "  name: nf4\n  bits: 4\n  group_size: 64\n  tau_n: 10\n")])
ft = os.path.join(work, "qlora.yaml")
text = open(os.path.join(repo, "configs/finetune/tiny-llama3-qlora.yaml")).read()
text = text.replace("data/tiny-instructions", instructions)
text = text.replace("  target_max_len: 128\n", "  target_max_len: 128\n  heldout_examples: 32\n")
text = text.replace("  steps: 200\n", "  steps: 10\n  threads: 1\n").replace("  eval_every: 50\n", "  eval_every: 10\n")
open(ft, "w").write(text)
runs = os.path.join(work, "runs")
sweep = os.path.join(work, "sweep.yaml")
open(sweep, "w").write(f"""name: tiny-lora-ft
base: {base}
runs_dir: {runs}
fp: true
eval:
  tasks: [mmlu, piqa]
  data_dir: {data}
  seq_len: 256
  limit: 16
rows:
  - {{name: normalfloat, method.name: nf4}}
  - {{name: qlora, method.name: nf4, finetune: {ft}}}
  - {{name: ir-qlora, method.name: nf4, method.icq: true, finetune: {ft}, finetune.lora.iec: true}}
""")
p = subprocess.run([lowbit, "sweep", sweep], capture_output=True, text=True, cwd=repo)
print("\n".join((p.stdout + p.stderr).splitlines()[-25:]))
check(p.returncode == 0, f"the sweep exited {p.returncode}")
for n in ("fp", "normalfloat", "qlora", "ir-qlora"):
    check(os.path.exists(os.path.join(runs, n, "results.json")), f"{n}: no results.json")
for n, iec in (("qlora", False), ("ir-qlora", True)):
    info = json.load(open(os.path.join(runs, n, "finetune.json")))
    check(info["lora"]["iec"] == iec and info["steps"] == 10, f"{n}: finetune.json says {info['lora']}, {info['steps']} steps")
    check(os.path.exists(os.path.join(runs, n, "quantized", "manifest.json")), f"{n}: no quantized base under it")

r = subprocess.run([lowbit, "report", "--paper", "lora-ft", "--paper-dir", os.path.join(repo, "configs/paper"), "--format",
                    "csv"] + [os.path.join(runs, n) for n in ("fp", "normalfloat", "qlora", "ir-qlora")],
                   capture_output=True, text=True)
print(r.stdout, r.stderr[-500:])
check(r.returncode == 0, "report failed")
rows = list(csv.reader(r.stdout.splitlines()))
for label in ("NormalFloat", "QLoRA", "IR-QLoRA"):
    row = next((x for x in rows if x and x[0] == label), None)
    check(row is not None, f"report: no {label} row")
    if row:
        header = rows[0]
        lowbit_cells = [row[i] for i, h in enumerate(header) if "lowbit" in h and row[i] not in ("", "-")]
        check(len(lowbit_cells) >= 6, f"report: {label} row has {len(lowbit_cells)} lowbit numbers ({row})")
sys.exit(f"{len(failures)} check(s) failed" if failures else 0)
