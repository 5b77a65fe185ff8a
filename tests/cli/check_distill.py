"""`lowbit distill` on a db-llm run of the small model, then `lowbit eval` of its output:
- with loss dad and with loss kl, the held-out KL to the teacher falls below the stage-1 run's;
- the two losses train different scales (the entropy weighting changes the result);
- `lowbit eval OUT` reads the run with the trained scales (its perplexity differs from the run's);
- a scales file changed after the fact is refused, naming the file and the checksum;
- a sweep row with `distill:` quantizes (db-llm), distils and evaluates the distilled run.
Usage: check_distill.py LOWBIT DB_LLM_RUN CORPUS_DIR WORK_DIR"""
import json
import os
import shutil
import subprocess
import sys

from safetensors.numpy import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
from _tiny_setup import tiny_experiment  # noqa: E402

lowbit, run_dir, corpus, work = sys.argv[1:]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def call(args, expect_ok=True):
    r = subprocess.run([lowbit] + args, capture_output=True, text=True)
    print(f"$ lowbit {' '.join(args)}\n{r.stdout[-1200:]}{r.stderr[-1200:]}")
    if expect_ok and r.returncode != 0:
        sys.exit(f"FAIL: exited {r.returncode}")
    if not expect_ok and r.returncode == 0:
        sys.exit("FAIL: expected a refusal")
    return r


def perplexity(target, name):
    out = os.path.join(work, f"results-{name}.json")
    call(["eval", target, "--tasks", "wikitext2", "--data", f"wikitext2={corpus}/test.txt", "--seq-len", "256",
          "--limit", "16", "--out", out])
    return json.load(open(out))["tasks"]["wikitext2"]["perplexity"]


outs = {}
for loss in ("dad", "kl"):
    out = os.path.join(work, loss)
    call(["distill", os.path.join(root, "configs/distill/tiny-llama3-db-llm.yaml"), f"base={run_dir}", f"loss={loss}",
          f"data.train={corpus}/train.txt", f"data.validation={corpus}/validation.txt", "data.heldout_windows=4",
          "training.steps=8", "training.batch_size=4", "training.eval_every=8", "training.threads=1", f"output.dir={out}"])
    info = json.load(open(os.path.join(out, "distill.json")))
    before, after = info["heldout"]["before"], info["heldout"]["after"]
    print(f"{loss}: held-out KL {before['kl']:.5f} -> {after['kl']:.5f}, "
          f"perplexity {before['perplexity']:.3f} -> {after['perplexity']:.3f}")
    if not after["kl"] < before["kl"]:
        sys.exit(f"FAIL: {loss}: the held-out KL did not fall")
    outs[loss] = out

dad, kl = (load_file(os.path.join(outs[k], "scales.safetensors")) for k in ("dad", "kl"))
moved = max(float(abs(dad[k] - kl[k]).max() / abs(kl[k]).max()) for k in dad)
print(f"dad vs kl scales: largest relative difference {moved:.2e}")
if moved < 1e-4:
    sys.exit("FAIL: the entropy weighting did not change the trained scales")

base_ppl, dad_ppl = perplexity(run_dir, "stage1"), perplexity(outs["dad"], "dad")
print(f"test perplexity: stage 1 {base_ppl:.4f}, stage 2 (dad) {dad_ppl:.4f}")
if base_ppl == dad_ppl:
    sys.exit("FAIL: lowbit eval of the distill output did not use the trained scales")

tampered = os.path.join(work, "tampered")
shutil.copytree(outs["dad"], tampered)
scales = os.path.join(tampered, "scales.safetensors")
data = bytearray(open(scales, "rb").read())
data[-1] ^= 1
open(scales, "wb").write(data)
r = call(["eval", tampered, "--tasks", "wikitext2", "--data", f"wikitext2={corpus}/test.txt"], expect_ok=False)
if "XXH64" not in r.stderr + r.stdout or "scales.safetensors" not in r.stderr + r.stdout:
    sys.exit("FAIL: the refusal does not name the scales file and its checksum")

# A sweep row that distils: RUN/quantized (stage 1), RUN (stage 2), RUN/results.json of RUN.
distill_cfg = os.path.join(work, "distill.yaml")
text = open(os.path.join(root, "configs/distill/tiny-llama3-db-llm.yaml")).read()
text = text.replace("data/tiny-corpus", corpus).replace("  steps: 200\n", "  steps: 3\n  threads: 1\n")
open(distill_cfg, "w").write(text.replace("  heldout_windows: 16\n", "  heldout_windows: 2\n"))
base = tiny_experiment(root, corpus, "tiny-llama3-rtn-w4g128.yaml", os.path.join(work, "base.yaml"),
                       os.path.join(root, "configs/models/lowbit-tiny-llama3.yaml"))
runs = os.path.join(work, "runs")
sweep = os.path.join(work, "sweep.yaml")
open(sweep, "w").write(f"""name: tiny-db-llm
base: {base}
runs_dir: {runs}
eval:
  tasks: [wikitext2]
  data_dir: {work}
  seq_len: 256
  limit: 2
rows:
  - {{name: db-llm, method.name: db-llm, method.bits: 2, method.epochs: 1, distill: {distill_cfg}, distill.loss: kl}}
""")
os.makedirs(os.path.join(work, "wikitext2"), exist_ok=True)
shutil.copyfile(os.path.join(corpus, "test.txt"), os.path.join(work, "wikitext2", "test.txt"))
p = subprocess.run([lowbit, "sweep", sweep], capture_output=True, text=True, cwd=root)
print("\n".join((p.stdout + p.stderr).splitlines()[-15:]))
if p.returncode != 0:
    sys.exit(f"FAIL: the sweep exited {p.returncode}")
row = os.path.join(runs, "db-llm")
info = json.load(open(os.path.join(row, "distill.json")))
if info["loss"] != "kl" or info["steps"] != 3 or os.path.realpath(info["base"]) != os.path.realpath(os.path.join(row, "quantized")):
    sys.exit(f"FAIL: the sweep row's distill.json: loss {info['loss']}, {info['steps']} steps, base {info['base']}")
results = json.load(open(os.path.join(row, "results.json")))
if results["target"].get("finetune") != "distill-kl":
    sys.exit(f"FAIL: the sweep evaluated {results['target']} rather than the distilled run")
print("ok")
