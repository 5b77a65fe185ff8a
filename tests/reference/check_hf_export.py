"""`lowbit export --format hf` against transformers itself: the export of a run loads in
LlamaForCausalLM and gives the logits `lowbit logits` gives on the run (1e-4 relative), for an NF4 run
and for a QLoRA fine-tuning (adapters merged), in one file and sharded with an index; bf16 exports
hold the fp32 export's values rounded to bf16; an existing OUT_DIR is refused and left as it was; an
export killed midway leaves no OUT_DIR (only OUT_DIR.partial), and running it again gives the same
bytes as an uninterrupted export.
Usage: check_hf_export.py LOWBIT WORK_DIR RUN_DIR..."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch, transformers = require("torch", "safetensors.torch", "transformers")
lowbit, work, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
IDS = [0, 17, 250, 1033, 9, 77, 3001, 512, 64, 2047, 5, 400]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def lowbit_run(*args, env=None, ok=True):
    r = subprocess.run([lowbit, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    print(f"$ lowbit {' '.join(args)}\n{r.stdout[-600:]}{r.stderr[-600:]}")
    if ok and r.returncode != 0:
        sys.exit(f"FAIL: lowbit {' '.join(args)} exited {r.returncode}")
    return r


def digest(d):
    h = hashlib.sha256()
    for name in sorted(os.listdir(d)):
        h.update(name.encode())
        h.update(open(os.path.join(d, name), "rb").read())
    return h.hexdigest()


def hf_logits(d, dtype=torch.float32):
    model = transformers.LlamaForCausalLM.from_pretrained(d, dtype=dtype)
    with torch.no_grad():
        return model(torch.tensor([IDS])).logits[0].float()


for run in runs:
    name = os.path.basename(run.rstrip("/"))
    ref = os.path.join(work, f"{name}-logits.safetensors")
    lowbit_run("logits", run, "--ids", ",".join(map(str, IDS)), "--out", ref)
    expected = st_torch.load_file(ref)["logits"]
    for variant, extra in (("one-file", []), ("sharded", ["--shard-size", "2MB"])):
        out = os.path.join(work, f"{name}-{variant}")
        lowbit_run("export", run, out, "--format", "hf", *extra)
        files = os.listdir(out)
        if variant == "sharded":
            check("model.safetensors.index.json" in files and sum(f.startswith("model-") for f in files) > 1,
                  f"{name}: a 2 MB shard size gave no sharded checkpoint: {files}")
        check(json.load(open(os.path.join(out, "lowbit_export.json")))["export_format"] == "hf", f"{name}: provenance")
        got = hf_logits(out)
        err = float((got - expected).abs().max() / expected.abs().max())
        print(f"{name} {variant}: transformers vs lowbit logits, relative {err:.2e}")
        check(err <= 1e-4, f"{name} {variant}: logits differ by {err:.2e}")
    # bf16: the fp32 export's values rounded.
    out16 = os.path.join(work, f"{name}-bf16")
    lowbit_run("export", run, out16, "--format", "hf", "--dtype", "bfloat16")
    w32 = st_torch.load_file(os.path.join(work, f"{name}-one-file", "model.safetensors"))
    w16 = st_torch.load_file(os.path.join(out16, "model.safetensors"))
    check(all(w16[k].dtype == torch.bfloat16 and torch.equal(w16[k], w32[k].to(torch.bfloat16)) for k in w32),
          f"{name}: the bf16 export is not the fp32 export rounded")
    check(json.load(open(os.path.join(out16, "config.json"))).get("dtype", "") == "bfloat16" or
          json.load(open(os.path.join(out16, "config.json"))).get("torch_dtype", "") == "bfloat16",
          f"{name}: config.json does not say bfloat16")

# An existing OUT_DIR is refused and untouched.
first = os.path.join(work, f"{os.path.basename(runs[0].rstrip('/'))}-one-file")
before = digest(first)
r = lowbit_run("export", runs[0], first, "--format", "hf", ok=False)
check(r.returncode != 0 and "exists" in r.stderr, "an existing OUT_DIR was not refused")
check(digest(first) == before, "the refused export changed the existing directory")

# Killed in the middle: no OUT_DIR; again: the same bytes as the uninterrupted export.
killed = os.path.join(work, "killed")
r = lowbit_run("export", runs[0], killed, "--format", "hf", env={"LOWBIT_TEST_KILL_EXPORT_AT_BLOCK": "1"}, ok=False)
check(r.returncode != 0, "the killed export exited 0")
check(not os.path.exists(killed) and os.path.exists(killed + ".partial"), "a killed export left OUT_DIR (or no .partial)")
lowbit_run("export", runs[0], killed, "--format", "hf")
check(not os.path.exists(killed + ".partial"), "the finished export left OUT_DIR.partial")
check(digest(killed) == digest(first), "the export after a kill differs from an uninterrupted one")
sys.exit(f"{len(failures)} check(s) failed" if failures else 0)
