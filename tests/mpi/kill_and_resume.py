"""Runs an mpirun command with rank 0 killed (SIGKILL) right after it commits block 0 (on two
ranks rank 0 owns the first two or more blocks of the tiny model, so it dies in the middle of its
range), checks that the job failed without a manifest, then runs the same command again and checks
it completes, resuming from the committed block. Usage: kill_and_resume.py RUN_DIR -- COMMAND..."""
import os
import shutil
import subprocess
import sys

run_dir = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
shutil.rmtree(run_dir, ignore_errors=True)
first = subprocess.run(cmd, env={**os.environ, "LOWBIT_TEST_KILL_AFTER_BLOCK": "0"}, capture_output=True, text=True)
print(first.stdout[-2000:], first.stderr[-2000:])
if first.returncode == 0:
    sys.exit("FAIL: the job with a killed rank exited 0")
if os.path.exists(os.path.join(run_dir, "manifest.json")):
    sys.exit("FAIL: a killed run wrote a manifest")
second = subprocess.run(cmd, capture_output=True, text=True)
print(second.stdout[-3000:], second.stderr[-2000:])
if second.returncode != 0 or "resumed from shard" not in second.stdout:
    sys.exit(f"FAIL: the rerun did not resume and complete (exit {second.returncode})")
print("ok: killed after block 0, resumed and completed")
