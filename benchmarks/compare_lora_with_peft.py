"""LoRA fine-tuning throughput of `lowbit finetune` beside PyTorch + PEFT, same machine, same model,
batches of 16 from the same instruction set framed as qlora.py frames it (lowbit in its seeded order,
PEFT the file's first records; each side's unpadded tokens counted), same threads: LoRA r 16 /
alpha 16 on every linear, global batch 16, AdamW, max grad norm 0.3, fp32, one process.

Both sides train on plain fp32 base weights (a model directory: lowbit holds a quantized run's base
dequantized the same way, so a run's base would give lowbit the same speed); PEFT here is
LoraModel on nn.Linear, not bitsandbytes' Linear4bit, whose CPU path dequantizes per forward.

Usage: benchmarks/compare_lora_with_peft.py BUILD_DIR INSTRUCTIONS_DIR [--steps N] [--threads N]
Models: lowbit-tiny-llama3 (hidden 256, 3 blocks) and a "medium" random model (hidden 1024, 4 blocks,
the tiny tokenizer's 4096 ids) written with transformers. Prints tokens/s (unpadded input tokens).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from _require import require  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
torch, transformers, peft = require("torch", "transformers", "peft")
import make_lora_cases as cases  # noqa: E402  (qlora.py's framing, written once for the reference test)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TINY = os.path.join(ROOT, "tests/fixtures/models/lowbit-tiny-llama3")


def medium_model(out):
    cfg = json.load(open(os.path.join(TINY, "config.json")))
    cfg.update(hidden_size=1024, intermediate_size=3584, num_hidden_layers=4, num_attention_heads=16,
               num_key_value_heads=4, head_dim=64)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg))
    model.save_pretrained(out)
    shutil.copy(os.path.join(TINY, "tokenizer.json"), out)
    return out


def peft_tokens_per_second(model_dir, records, steps):
    tok, _ = cases.tokenizer_for(model_dir)
    model = transformers.LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = peft.LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, target_modules=cases.TARGETS, task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.0)
    batches = [cases.qlora_batch(tok, records[16 * i:16 * (i + 1)]) for i in range(steps)]
    tokens, start = 0, time.perf_counter()  # every step counted, the first too (as lowbit's figure)
    for ids, labels, mask in batches:
        opt.zero_grad()
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.3)
        opt.step()
        tokens += int(mask.sum())
    return tokens / (time.perf_counter() - start)


def lowbit_tokens_per_second(build, model_dir, instructions, steps, threads, tmp):
    out = os.path.join(tmp, "ft-" + os.path.basename(model_dir))
    cmd = [os.path.join(build, "bin/lowbit"), "finetune", os.path.join(ROOT, "configs/finetune/tiny-llama3-qlora.yaml"),
           f"base={model_dir}", f"data.train={instructions}/train.json", f"data.validation={instructions}/validation.json",
           "data.heldout_examples=16", f"training.steps={steps}", "training.micro_batch=16", "training.seed=0",
           f"training.threads={threads}", f"training.eval_every={steps}", "training.log_every=1",
           f"output.dir={out}", f"output.save_every={steps}"]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # The last progress line's tokens/s: unpadded input tokens of every step so far over the loop's time.
    rates = re.findall(r"step\s+\d+/\d+.*?(\d+) tok/s", text)
    return float(rates[-1]) if rates else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("instructions")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    records = json.load(open(os.path.join(a.instructions, "train.json")))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"LoRA r 16 on every linear, batch 16, {a.steps} steps, {a.threads} threads, fp32")
        print(f"{'model':<34} {'lowbit tok/s':>13} {'PyTorch+PEFT tok/s':>19} {'ratio':>6}")
        for name, model_dir in (("lowbit-tiny-llama3 (hidden 256)", TINY),
                                ("medium (hidden 1024, 4 blocks)", medium_model(os.path.join(tmp, "medium")))):
            ours = lowbit_tokens_per_second(a.build, model_dir, a.instructions, a.steps, a.threads, tmp)
            theirs = peft_tokens_per_second(model_dir, records, a.steps)
            print(f"{name:<34} {ours:>13.0f} {theirs:>19.0f} {ours / theirs:>6.2f}")


if __name__ == "__main__":
    main()
