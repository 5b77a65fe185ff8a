#!/usr/bin/env python3
"""Downloads the study's evaluation data sets with Hugging Face `datasets` and writes them in the
layout `lowbit eval` reads (docs/evaluation.md). Needs internet access to the Hugging Face Hub;
lowbit itself never downloads anything.

Usage: launch/prepare_data.py [--out data/eval] [--tasks wikitext2,c4,ptb,piqa,...] [--ptb-split validation]
       launch/prepare_data.py --alpaca data/alpaca      (the LoRA fine-tuning data, below)

  wikitext2/test.txt                         wikitext-2-raw-v1 test, lines joined with "\\n\\n"
  wikitext2/train.txt                        the train split the same way: the paper's calibration set
  wikitext2/validation.txt                   the validation split the same way (lowbit distill's held-out)
  ptb/test.txt                               ptb_text_only (--ptb-split, default validation as GPTQ's
                                             and the LLaMA3 repo's get_ptb), sentences joined "\\n\\n"
  c4/c4-validation.00000-of-00008.json.gz    allenai/c4 en validation shard 0, the file as published
  piqa/validation.jsonl                      goal, sol1, sol2, label
  arc_easy/test.jsonl, arc_challenge/test.jsonl   id, question, choices{text,label}, answerKey
  hellaswag/validation.jsonl                 activity_label, ctx_a, ctx_b, endings, label, ...
  winogrande/validation.jsonl                winogrande_xl: sentence, option1, option2, answer
  mmlu/dev.jsonl, mmlu/test.jsonl            cais/mmlu "all": question, subject, choices, answer

--alpaca DIR writes tatsu-lab/alpaca (instruction, input, output) for `lowbit finetune`, split as
qlora.py / IR-QLoRA split it when evaluating: train_test_split(test_size=1024, shuffle=True, seed=42)
of the train split -> DIR/train.jsonl (50,978 records) and DIR/validation.jsonl (1,024).

Each file is written to a temporary name and renamed, so an interrupted run leaves no half file;
existing files are kept unless --force.
"""
import argparse
import json
import os
import shutil
import sys

SOURCES = {  # task -> (dataset path, config, split, out file)
    "piqa": ("baber/piqa", None, "validation", "piqa/validation.jsonl"),
    "arc_easy": ("allenai/ai2_arc", "ARC-Easy", "test", "arc_easy/test.jsonl"),
    "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge", "test", "arc_challenge/test.jsonl"),
    "hellaswag": ("Rowan/hellaswag", None, "validation", "hellaswag/validation.jsonl"),
    "winogrande": ("allenai/winogrande", "winogrande_xl", "validation", "winogrande/validation.jsonl"),
}
ALL = ["wikitext2", "c4", "ptb"] + list(SOURCES) + ["mmlu"]


def need(module):
    try:
        return __import__(module)
    except ImportError:
        sys.exit(f"prepare_data.py needs the Python package '{module}': pip install {module}")


def write_atomic(path, write):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".partial"
    write(tmp)
    os.replace(tmp, path)
    print(f"wrote {path} ({os.path.getsize(path):,} bytes)")


def jsonl(rows):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return write


def text(s):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(s)
    return write


def alpaca(datasets, out, force):
    paths = {split: os.path.join(out, f"{split}.jsonl") for split in ("train", "validation")}
    if all(os.path.exists(p) for p in paths.values()) and not force:
        print(f"kept {out} (exists; --force to rewrite)")
        return
    try:
        d = datasets.load_dataset("tatsu-lab/alpaca", split="train")
    except Exception as e:  # no network, no Hub access
        sys.exit(f"cannot load tatsu-lab/alpaca from the Hugging Face Hub ({e}); on a machine without Hub access, "
                 f"copy DIR/train.jsonl and DIR/validation.jsonl from one that has it, or use your own "
                 f"Alpaca-format data (instruction, input, output)")
    split = d.train_test_split(test_size=1024, shuffle=True, seed=42)
    for name, part in (("train", split["train"]), ("validation", split["test"])):
        write_atomic(paths[name], jsonl({k: r[k] for k in ("instruction", "input", "output")} for r in part))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="data/eval")
    ap.add_argument("--tasks", default=",".join(ALL))
    ap.add_argument("--ptb-split", default="validation", choices=["validation", "test"])
    ap.add_argument("--force", action="store_true", help="overwrite existing files")
    ap.add_argument("--alpaca", metavar="DIR", help="write the Alpaca instruction data to DIR instead (see above)")
    a = ap.parse_args()
    datasets = need("datasets")
    if a.alpaca:
        return alpaca(datasets, a.alpaca, a.force)
    tasks = [t for t in a.tasks.split(",") if t]
    for t in tasks:
        if t not in ALL:
            sys.exit(f"unknown task '{t}' (known: {', '.join(ALL)})")

    def wanted(rel):
        path = os.path.join(a.out, rel)
        if os.path.exists(path) and not a.force:
            print(f"kept {path} (exists; --force to rewrite)")
            return None
        return path

    for t in tasks:
        if t == "wikitext2":
            for split in ("test", "train", "validation"):
                if p := wanted(f"wikitext2/{split}.txt"):
                    d = datasets.load_dataset("wikitext", "wikitext-2-raw-v1", split=split)
                    write_atomic(p, text("\n\n".join(d["text"])))
        elif t == "ptb" and (p := wanted("ptb/test.txt")):
            d = datasets.load_dataset("ptb-text-only/ptb_text_only", split=a.ptb_split)
            write_atomic(p, text("\n\n".join(d["sentence"])))
        elif t == "c4" and (p := wanted("c4/c4-validation.00000-of-00008.json.gz")):
            hub = need("huggingface_hub")
            src = hub.hf_hub_download("allenai/c4", "en/c4-validation.00000-of-00008.json.gz", repo_type="dataset")
            write_atomic(p, lambda tmp: shutil.copyfile(src, tmp))
        elif t in SOURCES and (p := wanted(SOURCES[t][3])):
            path, config, split, _ = SOURCES[t]
            d = datasets.load_dataset(path, config, split=split)
            write_atomic(p, jsonl(d))
        elif t == "mmlu":
            for split in ("dev", "test"):
                if p := wanted(f"mmlu/{split}.jsonl"):
                    d = datasets.load_dataset("cais/mmlu", "all", split=split)
                    write_atomic(p, jsonl({k: r[k] for k in ("question", "subject", "choices", "answer")} for r in d))


if __name__ == "__main__":
    main()
