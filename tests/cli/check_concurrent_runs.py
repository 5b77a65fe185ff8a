"""Two lowbit processes on one directory, through the command line, on lowbit-tiny-llama3.

Usage: check_concurrent_runs.py LOWBIT REPO_DIR CORPUS_DIR WORK_DIR
  - a quantize started while another process holds the run directory's lock is refused with exit
    status 1, naming the holder, and changes nothing; a lock left by a process that has ended is
    reported and taken over;
  - two quantize started together on one run directory: one is refused (or, if the first had already
    finished, the second resumes every block); the run then verifies with `lowbit inspect`;
  - two evaluations of different tasks started together on one run both keep their results.
"""
import json
import os
import shutil
import subprocess
import sys

failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def main():
    lowbit, repo, corpus, work = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model = os.path.join(repo, "tests/fixtures/models/lowbit-tiny-llama3")
    run = os.path.join(work, "run")
    config = os.path.join(work, "rtn.yaml")
    with open(config, "w") as f:
        f.write(f"model: {model}\nmethod:\n  name: rtn\n  bits: 3\n  group_size: 128\n"
                f"calibration:\n  source: {corpus}/train.txt\n  nsamples: 8\n  seq_len: 128\n"
                f"distributed:\n  threads: 1\noutput:\n  run_dir: {run}\n")
    quantize = [lowbit, "quantize", config]

    # A live holder (this script) -> refused, nothing created beside the lock.
    os.makedirs(run)
    lock = os.path.join(run, ".lowbit-quantize.lock")
    holder = {"host": os.uname().nodename, "pid": os.getpid(), "what": "check_concurrent_runs.py", "since": "now"}
    json.dump(holder, open(lock, "w"))
    p = subprocess.run(quantize, capture_output=True, text=True)
    check(p.returncode == 1 and "locked by check_concurrent_runs.py" in p.stderr and "still running" in p.stderr,
          f"a held run directory is refused naming the holder: {p.stderr.strip()[-200:]!r}")
    check(sorted(os.listdir(run)) == [".lowbit-quantize.lock"],
          f"the refused quantize wrote nothing: {os.listdir(run)}")
    # A holder that has ended -> reported and taken over.
    ended = subprocess.Popen(["true"])
    ended.wait()
    holder["pid"] = ended.pid
    json.dump(holder, open(lock, "w"))
    p = subprocess.run(quantize, capture_output=True, text=True)
    check(p.returncode == 0 and "taking over a stale lock" in p.stderr and not os.path.exists(lock),
          f"a stale lock is reported and taken over: rc {p.returncode}, {p.stderr.strip()[-200:]!r}")

    # Two quantize together on a fresh directory.
    shutil.rmtree(run)
    procs = [subprocess.Popen(quantize, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(q.wait(), *q.communicate()) for q in procs]
    refused = [o for o in outs if o[0] == 1 and "locked by" in o[2]]
    done = [o for o in outs if o[0] == 0]
    resumed_all = [o for o in done if o[1].count("resumed from shard") == 3]
    check(len(done) >= 1 and len(refused) + len(done) == 2 and (len(refused) == 1 or len(resumed_all) == 1),
          f"two quantize on one directory: one refused or one resumed everything "
          f"(rcs {[o[0] for o in outs]}, errors {[o[2].strip()[-120:] for o in outs]})")
    p = subprocess.run([lowbit, "inspect", run], capture_output=True, text=True)
    check(p.returncode == 0 and "verified: 1 shard agrees" in p.stdout, f"the run verifies: {p.stdout[-200:]!r} {p.stderr[-200:]!r}")

    # Two evaluations together: both results kept.
    text = os.path.join(corpus, "test.txt")
    evals = [subprocess.Popen([lowbit, "eval", run, "--tasks", task, "--data", f"{task}={text}", "--seq-len", "64",
                               "--limit", "2", "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for task in ("wikitext2", "ptb")]
    rcs = [e.wait() for e in evals]
    errs = [e.communicate()[1] for e in evals]
    results = json.load(open(os.path.join(run, "results.json")))
    check(rcs == [0, 0] and set(results["tasks"]) == {"wikitext2", "ptb"},
          f"two evaluations together both keep their results: rcs {rcs}, tasks {sorted(results['tasks'])}, {errs}")
    check(not os.path.exists(os.path.join(run, "results.json.lock")), "the results lock is gone")

    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all concurrency checks passed")


if __name__ == "__main__":
    main()
