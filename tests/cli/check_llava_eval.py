"""`lowbit eval` of the visual benchmarks on a small random LLaVA-NeXT, end to end:
- a LlavaNextForConditionalGeneration from transformers (CLIP at 28 px, anyres over two grid points,
  a 2-layer Llama with the real Llama 3 vocabulary and tokenizer, generation_config stopping at
  <|end_of_text|> / <|eot_id|>) and a few synthetic questions per task with generated images,
  prepared by launch/prepare_multimodal.py (the model's own image processor);
- `lowbit eval MODEL --tasks ai2d,chartqa,docvqa,mmbench_en,mme --log-samples` on 1 rank and with
  `mpirun -np 2`: the same responses and scores;
- every response equals transformers' `generate` on the same pixels and the prompt as lmms-eval's
  llava model builds it (the Llama 3 chat template, LLaVA-NeXT's tokenizer_image_token transcribed);
- each task's scores equal lmms-eval's own scoring of those responses (the oracle venv);
- a sweep (the unquantized model and GPTQ W4 g128 of its language model) quantizes and evaluates, and
  `lowbit report --paper llava-next-8b` puts both beside the paper's rows; the quantized model's
  responses differ from the unquantized one's.
Usage: check_llava_eval.py LOWBIT LLAMA3_TOKENIZER_DIR ORACLE_PYTHON WORK_DIR [MPIRUN ARGS...]
(MPIRUN ARGS: the launcher and its options; "-np N" and the command are appended.)"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import transformers
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _llava_setup import IMAGE_TOKEN, make_llava, prompt_ids  # noqa: E402

lowbit, tokenizer_dir, oracle_python, work = sys.argv[1:5]
mpirun = sys.argv[5:]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
TASKS = ["ai2d", "chartqa", "docvqa", "mmbench_en", "mme"]
BUDGET = {"ai2d": 16, "chartqa": 16, "docvqa": 32, "mmbench_en": 1024, "mme": 16}


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    print(f"$ {' '.join(cmd[:8])} ...\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    if r.returncode != 0:
        sys.exit(f"FAIL: exited {r.returncode}")
    return r


# ---- the model --------------------------------------------------------------------------------
model_dir = os.path.join(work, "model")
model = make_llava(model_dir, tokenizer_dir)

# ---- questions --------------------------------------------------------------------------------
rng = np.random.default_rng(1)
docs_dir = os.path.join(work, "docs")
os.makedirs(docs_dir)


def image(name, h, w):
    Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(os.path.join(docs_dir, name))
    return name


docs = {
    "ai2d": [{"question": "Which part absorbs water?", "options": ["root", "leaf", "stem", "flower"], "answer": "0",
              "image": image("a0.png", 20, 45)},
             {"question": "What eats the grass?", "options": ["cow", "sun"], "answer": "1", "image": image("a1.png", 50, 18)}],
    "chartqa": [{"question": "What is the value in 2019?", "answer": "12", "type": "human_test", "image": image("c0.png", 28, 28)},
                {"question": "Which bar is the highest?", "answer": "Blue", "type": "augmented", "image": image("c1.png", 30, 60)}],
    "docvqa": [{"question": "What is the date?", "answers": ["12 March 1998", "12/03/1998"], "questionId": 7,
                "image": image("d0.png", 45, 33)}],
    "mme": [{"question_id": "existence/1.png", "question": "Is there a dog? Please answer yes or no.", "answer": "Yes",
             "category": "existence", "image": image("m0.png", 26, 40)},
            {"question_id": "existence/1.png", "question": "Is there a cat? Please answer yes or no.", "answer": "No",
             "category": "existence", "image": "m0.png"},
            {"question_id": "code/2.png", "question": "Does this print 3? Please answer yes or no.", "answer": "No",
             "category": "code_reasoning", "image": image("m1.png", 40, 26)},
            {"question_id": "code/2.png", "question": "Does this print 4? Please answer yes or no.", "answer": "Yes",
             "category": "code_reasoning", "image": "m1.png"}],
    "mmbench_en": [{"index": 0, "question": "What animal is this?", "hint": None, "A": "cat", "B": "dog", "C": "cow",
                    "D": None, "answer": "B", "category": "animals", "L2-category": "x", "source": "s", "split": "dev",
                    "image": image("b0.png", 33, 33)},
                   {"index": 1000000, "question": "What animal is this?", "hint": None, "A": "dog", "B": "cow", "C": "cat",
                    "D": None, "answer": "A", "category": "animals", "L2-category": "x", "source": "s", "split": "dev",
                    "image": "b0.png"}],
}
prepare = [sys.executable, os.path.join(root, "launch/prepare_multimodal.py"), "--model", model_dir, "--out",
           os.path.join(work, "data")]
for task, rows in docs.items():
    path = os.path.join(docs_dir, f"{task}.jsonl")
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    prepare += ["--docs", f"{task}={path}"]
run(prepare)


def evaluate(target, out, ranks, tasks=TASKS):
    cmd = [lowbit, "eval", target, "--tasks", ",".join(tasks), "--data-dir", os.path.join(work, "data"), "--log-samples",
           "--micro-batch", "2", "--threads", "1", "--out", out]
    run((mpirun + ["-np", str(ranks)] + cmd) if ranks > 1 else cmd, cwd=work)
    return json.load(open(out))["tasks"]


one = evaluate(model_dir, os.path.join(work, "r1.json"), 1)
if mpirun:
    two = evaluate(model_dir, os.path.join(work, "r2.json"), 2)
    for t in TASKS:
        a = {k: v for k, v in one[t].items() if k not in ("seconds", "settings")}
        b = {k: v for k, v in two[t].items() if k not in ("seconds", "settings")}
        if a != b:
            sys.exit(f"FAIL: {t}: 2 ranks gave {b}, 1 rank {a}")
    print("1 and 2 ranks: the same responses and scores")

# ---- the responses against transformers' generate ---------------------------------------------
tok = transformers.AutoTokenizer.from_pretrained(model_dir)
prompt_of = json.loads(subprocess.run(
    [oracle_python, "-c", """
import json, sys
import lmms_eval.tasks.ai2d.utils as ai2d, lmms_eval.tasks.chartqa.utils as chartqa, lmms_eval.tasks.docvqa.utils as docvqa
import lmms_eval.tasks.mme.utils as mme, lmms_eval.tasks.mmbench.en_utils as mmbench
docs = json.load(sys.stdin)
kw = lambda post, **more: dict(pre_prompt="", post_prompt=post, **more)
letter = "\\nAnswer with the option's letter from the given choices directly."
word = "\\nAnswer the question using a single word or phrase."
f = {"ai2d": lambda d: ai2d.ai2d_doc_to_text(d, kw(letter, prompt_format="mcq")),
     "chartqa": lambda d: chartqa.chartqa_doc_to_text(d, kw("\\nAnswer the question with a single word.")),
     "docvqa": lambda d: docvqa.docvqa_doc_to_text(d, kw(word)), "mme": lambda d: mme.mme_doc_to_text(d, kw(word)),
     "mmbench_en": lambda d: mmbench.mmbench_doc_to_text(d, kw(letter))}
print(json.dumps({t: [f[t](d) for d in ds] for t, ds in docs.items()}))
"""], input=json.dumps(docs), capture_output=True, text=True, check=True).stdout.splitlines()[-1])
for task in TASKS:
    questions = [json.loads(line) for line in open(os.path.join(work, "data", task, "questions.jsonl"))]
    for i, q in enumerate(questions):
        if task == "mmbench_en" and i > 0:
            continue  # 1024 tokens each in transformers: one is enough
        pix = __import__("safetensors.torch", fromlist=["load_file"]).load_file(
            os.path.join(work, "data", task, q["pixels"]))
        size = pix["image_size"][None]
        with torch.no_grad():
            n = model.model.get_image_features(pix["pixel_values"][None], size, return_dict=True).pooler_output[0].shape[0]
        ids = prompt_ids(tok, prompt_of[task][i], n)
        with torch.no_grad():
            out = model.generate(input_ids=torch.tensor([ids]), pixel_values=pix["pixel_values"][None],
                                 image_sizes=size, max_new_tokens=BUDGET[task], do_sample=False)[0, len(ids):]
        expected = tok.decode(out, skip_special_tokens=True)
        got = one[task]["samples"][i]
        if got != expected:
            sys.exit(f"FAIL: {task} question {i}: lowbit generated {got!r}, transformers {expected!r}")
    print(f"{task}: responses equal transformers' generate")

# ---- the scores against lmms-eval's scoring of the same responses ------------------------------
scored = json.loads(subprocess.run(
    [oracle_python, os.path.join(root, "tests/cli/score_with_lmms_eval.py")],
    input=json.dumps({t: {"docs": docs[t], "responses": one[t]["samples"]} for t in TASKS}),
    capture_output=True, text=True, check=True).stdout.splitlines()[-1])
for task, expected in scored.items():
    for key, value in expected.items():
        if one[task][key] != value:
            sys.exit(f"FAIL: {task} {key}: lowbit {one[task][key]}, lmms-eval {value}")
print("scores equal lmms-eval's: " + ", ".join(f"{t} {json.dumps(v)}" for t, v in scored.items()))

# ---- the language model quantized, through a sweep and the report --------------------------------
corpus = os.path.join(work, "corpus.txt")
with open(corpus, "w") as fh:
    fh.write(" ".join(f"word{i % 97} and more text {i}" for i in range(3000)))
exp, sweep, runs = (os.path.join(work, f) for f in ("gptq.yaml", "sweep.yaml", "runs"))
with open(exp, "w") as fh:
    fh.write(f"""model: {model_dir}
method:
  name: gptq
  bits: 4
  group_size: 128
calibration:
  source: {corpus}
  style: stream
  nsamples: 4
  seq_len: 64
  seed: 0
distributed:
  micro_batch: 4
  threads: 1
output:
  run_dir: {os.path.join(work, "unused")}
""")
short = [t for t in TASKS if t != "mmbench_en"]  # its 1024-token budget: the other four suffice here
with open(sweep, "w") as fh:
    fh.write(f"""name: tiny-llava
base: {exp}
runs_dir: {runs}
fp: true
eval:
  tasks: [{", ".join(short)}]
  data_dir: {os.path.join(work, "data")}
rows:
  - {{name: gptq-w4-g128, method.name: gptq, method.bits: 4, method.group_size: 128}}
""")
run([lowbit, "sweep", sweep], cwd=work)
report = run([lowbit, "report", os.path.join(runs, "fp"), os.path.join(runs, "gptq-w4-g128"), "--paper", "llava-next-8b",
              "--paper-dir", os.path.join(root, "configs/paper"), "--format", "csv"], cwd=work).stdout
lines = {line.split(",")[0] + "," + line.split(",")[1]: line.split(",") for line in report.splitlines()[1:]}
head = report.splitlines()[0].split(",")
fp_row = next(v for k, v in lines.items() if k.startswith("LLaVA-Next"))
gptq_row = lines.get("GPTQ,4")
if gptq_row is None or fp_row[head.index("AI2D lowbit")] in ("", "—") or gptq_row[head.index("MME Per lowbit")] in ("", "—"):
    sys.exit(f"FAIL: the report does not hold the sweep's FP and GPTQ W4 g128 numbers:\n{report}")
if fp_row[head.index("AI2D paper")] != "71.7" or gptq_row[head.index("MME Per paper")] != "1563.4":
    sys.exit(f"FAIL: the report's paper cells are not the paper's:\n{report}")
quantized = evaluate(os.path.join(runs, "gptq-w4-g128"), os.path.join(work, "q.json"), 1, short)
if all(quantized[t]["samples"] == one[t]["samples"] for t in short):
    sys.exit("FAIL: the quantized language model answered exactly as the full-precision one")
print("ok")
