"""Runs COMMAND (after removing RUN_DIR) only where lowbit sees a CUDA device; elsewhere exits 77,
which ctest reports as SKIPPED with the reason printed here (never as passed).
Usage: run_if_gpu.py LOWBIT RUN_DIR -- COMMAND..."""
import re
import shutil
import subprocess
import sys

lowbit, run_dir = sys.argv[1], sys.argv[2]
info = subprocess.run([lowbit, "info"], capture_output=True, text=True).stdout
m = re.search(r"CUDA devices visible: (\d+)", info)
if not m or int(m.group(1)) == 0:
    print("SKIPPED: no CUDA device visible to lowbit (`lowbit info`: %s)" %
          (m.group(0) if m else "no CUDA/NCCL parts in this build"))
    sys.exit(77)
shutil.rmtree(run_dir, ignore_errors=True)
sys.exit(subprocess.run(sys.argv[sys.argv.index("--") + 1:]).returncode)
