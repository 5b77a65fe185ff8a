"""Bad input under mpirun -np 2 stops every rank with one message naming the file and the field:
a missing calibration file, a YAML typo (given as an override), a truncated shard in the run
directory, and a run directory made with another config. Each job must fail, and exactly one
"lowbit: error" line must name what is wrong.
Usage: check_bad_input.py RUN_DIR -- COMMAND...   (COMMAND without output.run_dir)"""
import os
import shutil
import subprocess
import sys

run_dir = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:] + [f"output.run_dir={run_dir}"]
failures = []


def expect_one_error(extra, fragments, what):
    p = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    errors = [line for line in out.splitlines() if "lowbit: error" in line]
    ok = p.returncode != 0 and len(errors) == 1 and all(f in errors[0] for f in fragments)
    print(("ok   " if ok else "FAIL ") + what + ": " + (errors[0] if errors else f"exit {p.returncode}, no error line"))
    if not ok:
        print(out[-3000:])
        failures.append(what)


shutil.rmtree(run_dir, ignore_errors=True)
expect_one_error(["calibration.source=/nonexistent/calibration.txt"], ["calibration.source", "/nonexistent/calibration.txt"],
                 "missing calibration file")
expect_one_error(["method.bitz=3"], ["unknown key 'method.bitz'"], "YAML typo")

good = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
if good.returncode != 0:
    print(good.stdout, good.stderr)
    sys.exit("FAIL: the reference run did not complete")
expect_one_error(["method.bits=3"], ["rank-00000-of-00002.h5", "'method_config'", "another run"],
                 "run directory of another config")
shard = os.path.join(run_dir, "shards", "rank-00001-of-00002.h5")
with open(shard, "r+b") as f:
    f.truncate(2000)
expect_one_error([], ["rank-00001-of-00002.h5"], "truncated shard")
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
