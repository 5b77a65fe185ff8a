"""Set-up shared by the CLI checks that run sweeps on lowbit-tiny-llama3: the small eval data sets and
an experiment config rewritten to absolute paths, one intra-op thread per rank."""
import os
import subprocess
import sys


def prepare_eval_data(repo, corpus, work):
    """launch/prepare_tiny_eval.py into WORK/tiny-eval; returns that directory."""
    data = os.path.join(work, "tiny-eval")
    subprocess.run([sys.executable, os.path.join(repo, "launch/prepare_tiny_eval.py"), corpus, data], check=True,
                   capture_output=True)
    return data


def tiny_experiment(repo, corpus, config, out, model, replacements=()):
    """configs/experiments/CONFIG with the model reference replaced by MODEL, the calibration corpus by
    CORPUS/train.txt and distributed.threads 1, plus (old, new) text replacements; written to OUT."""
    text = open(os.path.join(repo, "configs/experiments", config)).read()
    text = text.replace("configs/models/lowbit-tiny-llama3.yaml", model)
    text = text.replace("data/tiny-corpus/train.txt", os.path.join(corpus, "train.txt"))
    for old, new in replacements:
        text = text.replace(old, new)
    open(out, "w").write(text.replace("  propagation: quantized\n", "  propagation: quantized\n  threads: 1\n"))
    return out
