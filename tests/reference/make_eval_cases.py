"""Evaluation fixtures in lowbit's data layout, written from the tiny corpus, and the numbers the
reference tools give for them on lowbit-tiny-llama3:

  perplexity (wikitext2, ptb, c4) — Hugging Face transformers on the study's protocol (METHODS.md
      §3.1: text tokenized once and cut into non-overlapping windows; C4: CPython `random` seed 0
      draws documents of >= seq_len tokens and a window in each);
  piqa, arc_easy, arc_challenge, hellaswag, winogrande — the `lm-eval` package itself (its own task
      definitions, included and pointed at the local JSONL files), acc and acc_norm;
  mmlu — IR-QLoRA's evaluate_mmlu.py procedure with transformers (5-shot Hendrycks prompts, shots
      dropped to fit, argmax over the logits of "A".."D").

Usage: make_eval_cases.py MODEL_DIR CORPUS_DIR OUT_DIR
Writes OUT_DIR/data/<task>/... (the fixtures), OUT_DIR/hf-model (the model with a
tokenizer_config.json, as lm-eval loads it) and OUT_DIR/expected.json.
"""
import gzip
import json
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "launch"))
from prepare_tiny_eval import make_data  # noqa: E402  (the fixtures, shared with the demo)

torch, transformers, tokenizers = require("torch", "transformers", "tokenizers")

SEQ_LEN = 128        # perplexity windows
C4_WINDOWS = 12


def perplexities(model, tok, data):
    def ppl(windows):
        nll, n = 0.0, 0
        with torch.no_grad():
            for w in windows:
                x = torch.tensor([w])
                logits = model(input_ids=x).logits.float()
                nll += torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:], reduction="sum").item()
                n += len(w) - 1
        return float(torch.tensor(nll / n).exp()), len(windows)

    out = {}
    for task in ("wikitext2", "ptb"):
        ids = tok.encode(open(os.path.join(data, task, "test.txt"), encoding="utf-8", newline="").read()).ids
        n = len(ids) // SEQ_LEN
        out[task] = ppl([ids[i * SEQ_LEN:(i + 1) * SEQ_LEN] for i in range(n)])
    with gzip.open(os.path.join(data, "c4", "c4-validation.00000-of-00008.json.gz"), "rt", encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f]
    random.seed(0)
    windows = []
    for _ in range(C4_WINDOWS):  # the study's C4 evaluation loader
        while True:
            i = random.randint(0, len(docs) - 1)
            enc = tok.encode(docs[i]).ids
            if len(enc) > SEQ_LEN:  # (== SEQ_LEN would make the reference's randint fail)
                break
        s = random.randint(0, len(enc) - SEQ_LEN - 1)
        windows.append(enc[s:s + SEQ_LEN])
    out["c4"] = ppl(windows)
    return {k: {"perplexity": v[0], "windows": v[1]} for k, v in out.items()}


def lm_eval_tasks(hf_dir, data, work):
    lm_eval = require("lm_eval")
    from lm_eval.tasks import TaskManager
    builtin = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")
    files = {"piqa": ("piqa/piqa.yaml", "piqa/validation.jsonl", "validation"),
             "arc_easy": ("arc/arc_easy.yaml", "arc_easy/test.jsonl", "test"),
             "arc_challenge": ("arc/arc_challenge.yaml", "arc_challenge/test.jsonl", "test"),
             "hellaswag": ("hellaswag/hellaswag.yaml", "hellaswag/validation.jsonl", "validation"),
             "winogrande": ("winogrande/default.yaml", "winogrande/validation.jsonl", "validation")}
    tasks_dir = os.path.join(work, "lm_eval_tasks")
    os.makedirs(tasks_dir, exist_ok=True)
    names = []
    for task, (yaml_rel, data_rel, split) in files.items():
        name = f"lowbit_{task}"
        names.append(name)
        # lm-eval's own definition, with the data set swapped for the local file.
        with open(os.path.join(tasks_dir, name + ".yaml"), "w") as f:
            f.write(f"include: {os.path.join(builtin, yaml_rel)}\n"
                    f"task: {name}\n"
                    "tag: []\n"
                    "dataset_path: json\n"
                    "dataset_name: null\n"
                    f"dataset_kwargs:\n  data_files:\n    {split}: {os.path.join(os.path.abspath(data), data_rel)}\n"
                    "training_split: null\n"
                    f"validation_split: {'validation' if split == 'validation' else 'null'}\n"
                    f"test_split: {'test' if split == 'test' else 'null'}\n")
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={hf_dir},dtype=float32,device=cpu",
                                  tasks=names, task_manager=TaskManager(include_path=tasks_dir), batch_size=1,
                                  num_fewshot=0)
    out = {}
    for task in files:
        r = res["results"][f"lowbit_{task}"]
        out[task] = {k.split(",")[0]: v for k, v in r.items() if k.split(",")[0] in ("acc", "acc_norm")}
        out[task]["docs"] = res["n-samples"][f"lowbit_{task}"]["effective"]
    return out


def mmlu(model, tok, data, max_tokens=2048):
    def read(p):
        return [json.loads(line) for line in open(p, encoding="utf-8")]
    dev, test = read(os.path.join(data, "mmlu", "dev.jsonl")), read(os.path.join(data, "mmlu", "test.jsonl"))
    letters = ["A", "B", "C", "D"]

    def example(q, answer):
        s = q["question"] + "".join(f"\n{letters[j]}. {c}" for j, c in enumerate(q["choices"])) + "\nAnswer:"
        return s + (f" {letters[q['answer']]}\n\n" if answer else "")
    ids = [tok.encode(l).ids[-1] for l in letters]
    correct, total = 0, 0
    per = {}
    for subject in sorted({q["subject"] for q in test}):
        shots = [q for q in dev if q["subject"] == subject][:5]
        head = "The following are multiple choice questions (with answers) about {}.\n\n".format(
            "".join(" " + w for w in subject.split("_")))
        for q in [q for q in test if q["subject"] == subject]:
            k = 5
            enc = tok.encode(head + "".join(example(s, True) for s in shots[:k]) + example(q, False)).ids
            while len(enc) > max_tokens and k > 0:  # (the reference would go on to k = -1: all shots)
                k -= 1
                enc = tok.encode(head + "".join(example(s, True) for s in shots[:k]) + example(q, False)).ids
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([enc])).logits[0, -1]
            ok = int(torch.tensor([logits[i] for i in ids]).argmax()) == q["answer"]
            correct += ok
            total += 1
            c = per.setdefault(subject, [0, 0])
            c[0] += ok
            c[1] += 1
    return {"acc": correct / total, "questions": total, "subjects": {s: c[0] / c[1] for s, c in per.items()}}


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model_dir, corpus, out = sys.argv[1:4]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    data = os.path.join(out, "data")
    make_data(corpus, data)
    # The model as lm-eval loads it: a Hugging Face directory whose tokenizer is tokenizer.json as is.
    hf_dir = os.path.join(out, "hf-model")
    os.makedirs(hf_dir, exist_ok=True)
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        shutil.copyfile(os.path.join(model_dir, f), os.path.join(hf_dir, f))
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 2048,
               "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"},
              open(os.path.join(hf_dir, "tokenizer_config.json"), "w"))
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    hf_tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
    probe = "Question: What is it?\nAnswer: a probe [title] text"
    assert hf_tok(probe, add_special_tokens=False).input_ids == tok.encode(probe, add_special_tokens=False).ids, \
        "transformers' tokenizer differs from tokenizers' on the probe"
    torch.set_num_threads(2)
    model = transformers.LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    expected = {"seq_len": SEQ_LEN, "c4_windows": C4_WINDOWS, "perplexity": perplexities(model, tok, data),
                "mmlu": mmlu(model, tok, data),
                "mmlu_max_tokens_200": mmlu(model, tok, data, max_tokens=200), "multiple_choice": lm_eval_tasks(hf_dir, data, out)}
    json.dump(expected, open(os.path.join(out, "expected.json"), "w"), indent=1)
    print(json.dumps({k: v for k, v in expected.items() if k != "mmlu"}, indent=1))


if __name__ == "__main__":
    main()
