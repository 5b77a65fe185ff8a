"""lowbit-tiny-llama3 in Hugging Face transformers and tokenizers, against lowbit.

- `tokenizers` and `lowbit tokenize` give identical ids for the whole test split;
- transformers and `lowbit logits` give the same logits (max diff <= 1e-4 of max |logit|);
- writes OUT/hf_perplexity.json: transformers' perplexity on the test split with the study's
  protocol (non-overlapping windows of SEQ tokens, first WINDOWS windows, exp(mean NLL)), which
  tests/model/test_tiny_model.cpp compares with lowbit's.
Usage: check_tiny_model.py LOWBIT_BINARY MODEL_DIR TEST_TXT OUT_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch, transformers, tokenizers, st_torch = require("torch", "transformers", "tokenizers", "safetensors.torch")

SEQ, WINDOWS, BATCH = 256, 32, 8


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    lowbit, model_dir, test_txt, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    failures = []
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    text = open(test_txt, encoding="utf-8", newline="").read()
    ids = tok.encode(text).ids
    ours = subprocess.run([lowbit, "tokenize", "--tokenizer", model_dir, "--ids", "--file", test_txt],
                          check=True, capture_output=True).stdout.decode().split()
    if list(map(int, ours)) != ids:
        failures.append("lowbit tokenize differs from tokenizers on the test split")

    model = transformers.LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    probe = ids[:64]
    logits_path = os.path.join(out, "lowbit_logits.safetensors")
    subprocess.run([lowbit, "logits", model_dir, "--ids", ",".join(map(str, probe)), "--out", logits_path],
                   check=True, capture_output=True)
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([probe])).logits[0]
    got = st_torch.load_file(logits_path)["logits"]
    err = ((got - ref).abs().max() / ref.abs().max()).item()
    print(f"logits: max |lowbit - transformers| / max |logit| = {err:.2e}")
    if err > 1e-4:
        failures.append(f"logits differ by {err:.2e}")

    n = min(WINDOWS, len(ids) // SEQ)
    windows = torch.tensor(ids[:n * SEQ]).view(n, SEQ)
    total = 0.0
    with torch.no_grad():
        for b in range(0, n, BATCH):
            x = windows[b:b + BATCH]
            logits = model(input_ids=x).logits.float()
            total += torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                                       x[:, 1:].reshape(-1), reduction="sum").item()
    nll = total / (n * (SEQ - 1))
    result = {"seq_len": SEQ, "windows": n, "nll": nll, "perplexity": float(torch.tensor(nll).exp()),
              "tokens": len(ids), "transformers": transformers.__version__}
    with open(os.path.join(out, "hf_perplexity.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"transformers perplexity on {n} windows of {SEQ}: {result['perplexity']:.4f}")
    for msg in failures:
        print("FAIL", msg)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
