#!/usr/bin/env python3
"""Writes the visual benchmarks in the layout `lowbit eval` reads for a LLaVA-NeXT model
(docs/multimodal.md): each question's fields as the data set has them, and its image as the model's
own Hugging Face image processor prepares it (exact by construction: lowbit never decodes images).

Usage:
  launch/prepare_multimodal.py --model MODEL_DIR [--out data/eval] [--tasks ai2d,chartqa,docvqa,mmbench_en,mme]
  launch/prepare_multimodal.py --model MODEL_DIR --docs TASK=FILE.jsonl [--docs ...] [--out DIR]

The first form reads the data sets lmms-eval reads from the Hugging Face Hub (needs internet access):
  ai2d        lmms-lab/ai2d, test              question, options, answer
  chartqa     lmms-lab/ChartQA, test           question, answer, type
  docvqa      lmms-lab/DocVQA DocVQA, validation   question, answers, questionId
  mmbench_en  lmms-lab/MMBench en, dev         index, question, hint, A-E, answer, category, ...
  mme         lmms-lab/MME, test               question_id, question, answer, category
The second reads local JSON lines with the same fields and "image": the path of an image file
(relative to the JSON file); tests and your own data use it.

Writes OUT/<task>/questions.jsonl (the fields, minus the image, plus "pixels") and
OUT/<task>/pixels/<sha1>.safetensors: pixel_values [tiles, 3, S, S] and image_size [2] (height, width)
(one file per distinct image: MME asks two questions of each, MMBench's circular variants share
theirs). --dtype float16 halves the files (lmms-eval's llava model casts the pixels to float16 too).
Files are written under temporary names and renamed; an existing task directory is kept unless
--force.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

SOURCES = {  # task -> (dataset path, config, split)
    "ai2d": ("lmms-lab/ai2d", None, "test"),
    "chartqa": ("lmms-lab/ChartQA", None, "test"),
    "docvqa": ("lmms-lab/DocVQA", "DocVQA", "validation"),
    "mmbench_en": ("lmms-lab/MMBench", "en", "dev"),
    "mme": ("lmms-lab/MME", None, "test"),
}


def plain(value):
    """A data set field as JSON: numpy scalars and arrays as Python values; NaN as null."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def write_task(task, docs, processor, out_dir, dtype, force):
    import torch
    from safetensors.torch import save_file

    task_dir = os.path.join(out_dir, task)
    if os.path.exists(task_dir) and not force:
        print(f"{task}: {task_dir} exists, kept (--force rewrites it)")
        return
    tmp = task_dir + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "pixels"))
    n = 0
    with open(os.path.join(tmp, "questions.jsonl"), "w", encoding="utf-8") as fh:
        for doc, image in docs:
            image = image.convert("RGB")
            key = hashlib.sha1(image.tobytes() + repr(image.size).encode()).hexdigest()
            name = os.path.join("pixels", key + ".safetensors")
            path = os.path.join(tmp, name)
            if not os.path.exists(path):
                batch = processor(images=[image], return_tensors="pt")
                save_file({"pixel_values": batch["pixel_values"][0].to(dtype).contiguous(),
                           "image_size": batch["image_sizes"][0].to(torch.int64).contiguous()}, path)
            fields = {k: plain(v) for k, v in doc.items() if k != "image"}
            fields["pixels"] = name
            fh.write(json.dumps(fields, ensure_ascii=False) + "\n")
            n += 1
    shutil.rmtree(task_dir, ignore_errors=True)
    os.rename(tmp, task_dir)
    print(f"{task}: {n} questions, {len(os.listdir(os.path.join(task_dir, 'pixels')))} images -> {task_dir}")


def local_docs(path):
    from PIL import Image

    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            doc = json.loads(line)
            if "image" not in doc:
                sys.exit(f"{path}:{line_no}: a question without 'image' (the path of its image file)")
            yield doc, Image.open(os.path.join(base, doc["image"]))


def hub_docs(task):
    try:
        import datasets
    except ImportError:
        sys.exit("prepare_multimodal.py needs the Python package 'datasets' (pip install datasets)")
    path, config, split = SOURCES[task]
    try:
        data = datasets.load_dataset(path, config, split=split)
    except Exception as e:  # noqa: BLE001  (no network, no access: say which and stop)
        sys.exit(f"{task}: could not load {path} ({config or 'default'}, {split}) from the Hugging Face Hub: {e}\n"
                 "this needs internet access (and a token for gated sets: huggingface-cli login); "
                 "or prepare local files with --docs TASK=FILE.jsonl")
    for doc in data:
        yield doc, doc["image"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the LLaVA-NeXT model directory (its preprocessor_config.json)")
    p.add_argument("--out", default="data/eval")
    p.add_argument("--tasks", default=",".join(SOURCES))
    p.add_argument("--docs", action="append", default=[], help="TASK=FILE.jsonl: local questions with image paths")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--force", action="store_true")
    a = p.parse_args()
    import torch
    import transformers

    try:
        processor = transformers.AutoImageProcessor.from_pretrained(a.model)
    except Exception as e:  # noqa: BLE001
        sys.exit(f"{a.model}: no image processor ({e}); a LLaVA-NeXT directory has preprocessor_config.json")
    dtype = torch.float16 if a.dtype == "float16" else torch.float32
    if a.docs:
        for spec in a.docs:
            task, sep, path = spec.partition("=")
            if not sep or task not in SOURCES:
                sys.exit(f"--docs expects TASK=FILE with TASK one of {', '.join(SOURCES)}, got '{spec}'")
            write_task(task, local_docs(path), processor, a.out, dtype, a.force)
        return
    for task in a.tasks.split(","):
        if task not in SOURCES:
            sys.exit(f"--tasks: unknown task '{task}' (known: {', '.join(SOURCES)})")
        write_task(task, hub_docs(task), processor, a.out, dtype, a.force)


if __name__ == "__main__":
    main()
