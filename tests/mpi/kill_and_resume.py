"""Runs an mpirun command with rank 1 killed (SIGKILL) right after it commits block 2, checks that
the job failed and left that block committed, then runs the same command again and checks it
completes (resuming). Usage: kill_and_resume.py RUN_DIR -- COMMAND..."""
import os
import shutil
import subprocess
import sys

run_dir = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
shutil.rmtree(run_dir, ignore_errors=True)
first = subprocess.run(cmd, env={**os.environ, "LOWBIT_TEST_KILL_AFTER_BLOCK": "2"}, capture_output=True, text=True)
print(first.stdout[-2000:], first.stderr[-2000:])
if first.returncode == 0:
    sys.exit("FAIL: the job with a killed rank exited 0")
if os.path.exists(os.path.join(run_dir, "manifest.json")):
    sys.exit("FAIL: a killed run wrote a manifest")
second = subprocess.run(cmd, capture_output=True, text=True)
print(second.stdout[-3000:], second.stderr[-2000:])
if second.returncode != 0 or "resumed from shard" not in second.stdout:
    sys.exit(f"FAIL: the rerun did not resume and complete (exit {second.returncode})")
print("ok: killed after block 2, resumed and completed")
