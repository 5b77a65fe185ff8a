"""Removes RUN_DIR, then runs COMMAND and exits with its status (so a ctest re-run never resumes an
old run by accident). Usage: run_fresh.py RUN_DIR -- COMMAND..."""
import shutil
import subprocess
import sys

shutil.rmtree(sys.argv[1], ignore_errors=True)
sys.exit(subprocess.run(sys.argv[sys.argv.index("--") + 1:]).returncode)
