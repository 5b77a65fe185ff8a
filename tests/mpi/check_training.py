"""Data-parallel training (`lowbit finetune`, `lowbit distill`) across world sizes and through a kill:
the same global batch on 1 rank and on 2 ranks (each a half of every batch, gradients summed) gives
the same trained tensors within 1e-5 relative (float summation order); a 2-rank run whose rank 0 is
killed (SIGKILL) right after its checkpoint at step 2 fails, and the same command again resumes there
and ends with tensors bitwise equal to an uninterrupted 2-rank run's.
Usage: check_training.py WORK_DIR RESULT MPIRUN... -- LOWBIT COMMAND_ARGS...
RESULT: the trained tensors' file inside the output directory (adapter/adapter_model.safetensors,
scales.safetensors)."""
import os
import shutil
import subprocess
import sys

from safetensors.numpy import load_file

work, result = sys.argv[1:3]
sep = sys.argv.index("--")
mpirun = sys.argv[3:sep]
lowbit = sys.argv[sep + 1:]


def run(name, np, env=None, expect_ok=True, fresh=True):
    out = os.path.join(work, name)
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    cmd = mpirun + ["-np", str(np)] + lowbit + [f"output.dir={out}"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    print(f"$ {' '.join(cmd)}\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    if expect_ok and r.returncode != 0:
        sys.exit(f"FAIL: {name} exited {r.returncode}")
    if not expect_ok and r.returncode == 0:
        sys.exit(f"FAIL: {name} with a killed rank exited 0")
    return out, r.stdout


def adapters(out):
    return load_file(os.path.join(out, result))


one, _ = run("np1", 1)
two, _ = run("np2", 2)
a1, a2 = adapters(one), adapters(two)
assert a1.keys() == a2.keys(), "different trained tensors on 1 and 2 ranks"
worst = max(float(abs(a1[k] - a2[k]).max() / abs(a1[k]).max()) for k in a1)
print(f"1 vs 2 ranks: largest relative difference {worst:.2e}")
if worst > 1e-5:
    sys.exit(f"FAIL: 2 ranks differ from 1 by {worst:.2e} (> 1e-5)")
if worst == 0 and len(a1) > 0:
    print("(bitwise equal)")

killed, _ = run("np2_killed", 2, env={"LOWBIT_TEST_KILL_AFTER_STEP": "2"}, expect_ok=False)
if os.path.exists(os.path.join(killed, result)) or not os.path.exists(os.path.join(killed, "checkpoint")):
    sys.exit(f"FAIL: the killed run left a final {result}, or no checkpoint")
_, stdout = run("np2_killed", 2, fresh=False)
if "resuming from" not in stdout:
    sys.exit("FAIL: the rerun did not resume from the checkpoint")
ak = adapters(killed)
differ = [k for k in a2 if not (a2[k] == ak[k]).all()]
if differ:
    sys.exit(f"FAIL: the resumed run's tensors differ from the uninterrupted run's: {differ[:3]}")
print(f"ok: 1 and 2 ranks agree; killed at step 2, resumed to the uninterrupted run's {result} bit for bit")
