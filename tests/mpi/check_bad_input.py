"""A missing calibration file under mpirun -np 2: the job must fail, every rank must end, and the
error must be reported once, naming the config field and the file.
Usage: check_bad_input.py -- COMMAND...  (the command gets calibration.source=<missing> appended)"""
import subprocess
import sys

cmd = sys.argv[sys.argv.index("--") + 1:] + ["calibration.source=/nonexistent/calibration.txt"]
p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
out = p.stdout + p.stderr
print(out[-3000:])
errors = [l for l in out.splitlines() if "lowbit: error" in l]
ok = p.returncode != 0 and len(errors) == 1 and "calibration.source" in errors[0] and "/nonexistent/calibration.txt" in errors[0]
print("ok" if ok else f"FAIL: exit {p.returncode}, {len(errors)} error lines")
sys.exit(0 if ok else 1)
