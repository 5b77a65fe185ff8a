"""The `lowbit` command line against the Hugging Face references.

- `lowbit tokenize --ids` prints exactly the ids `tokenizers` gives (texts passed as argument and by --file);
- `lowbit tokenize --decode` prints the text back;
- `lowbit logits --out` writes a safetensors file the `safetensors` package reads, holding transformers' logits;
- `lowbit info` counts the parameters transformers counts;
- `lowbit make-model --shape llama3-8b` writes the tensors transformers builds from its config.json;
- a corrupt model makes `lowbit logits` fail with one message naming the file, not crash.
Usage: check_cli.py LOWBIT_BINARY LLAMA3_TOKENIZER_JSON REFERENCE_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
tokenizers, safetensors_torch, torch, transformers = require("tokenizers", "safetensors.torch", "torch", "transformers")

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args, ok=True):
    # Bytes, decoded here: text mode would turn a printed "\r\n" into "\n".
    p = subprocess.run(list(args), capture_output=True)
    p.stdout, p.stderr = p.stdout.decode("utf-8"), p.stderr.decode("utf-8")
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        check(False, f"exit 0 from {' '.join(args[:3])}")
    return p


def main():
    lowbit, tok_path, ref = sys.argv[1:4]
    tok = tokenizers.Tokenizer.from_file(tok_path)
    with tempfile.TemporaryDirectory() as tmp:
        for text in ["Hello, world!", "I'M here\r\n  and   there 1234567 café 你好 👍🏽",
                     "<|begin_of_text|>special<|eot_id|> inside", "  \n\n\t trailing  "]:
            path = os.path.join(tmp, "in.txt")
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            expected = " ".join(map(str, tok.encode(text).ids))
            got = run(lowbit, "tokenize", "--tokenizer", tok_path, "--ids", "--file", path).stdout.strip("\n")
            check(got == expected, f"tokenize --file {text!r}")
            if "\n" not in text and "\r" not in text:
                got = run(lowbit, "tokenize", "--tokenizer", tok_path, "--ids", text).stdout.strip("\n")
                check(got == expected, f"tokenize TEXT {text!r}")
            back = run(lowbit, "tokenize", "--tokenizer", tok_path, "--decode", expected).stdout
            check(back == text + "\n", f"tokenize --decode {text!r}")

        models = os.path.join(ref, "models")
        for name in sorted(os.listdir(models)):
            mdir = os.path.join(models, name)
            r = safetensors_torch.load_file(os.path.join(mdir, "reference.safetensors"))
            ids = r["ids"][0]
            out = os.path.join(tmp, f"{name}.safetensors")
            run(lowbit, "logits", mdir, "--ids", ",".join(map(str, ids.tolist())), "--out", out)
            logits = safetensors_torch.load_file(out)["logits"]
            expected = r["logits_fp32"][0]
            err = ((logits - expected).abs().max() / expected.abs().max()).item()
            check(logits.shape == expected.shape and err <= 1e-4, f"logits --out {name}: relative error {err:.2e}")

            info = run(lowbit, "info", mdir, "--no-tensors").stdout
            m = re.search(r"parameters (\d+)", info)
            cfg = json.load(open(os.path.join(mdir, "config.json")))
            n_ref = sum(t.numel() for k, t in safetensors_torch.load_file(os.path.join(mdir, "model.safetensors")).items()) \
                if os.path.exists(os.path.join(mdir, "model.safetensors")) else None
            if n_ref is None:
                n_ref = 0
                for f in os.listdir(mdir):
                    if f.startswith("model-") and f.endswith(".safetensors"):
                        n_ref += sum(t.numel() for t in safetensors_torch.load_file(os.path.join(mdir, f)).values())
            check(m is not None and int(m.group(1)) == n_ref, f"info {name}: {m.group(1) if m else '?'} parameters, "
                  f"stored {n_ref} (vocab {cfg['vocab_size']})")

        # make-model: one block of the real LLaMA3-8B shapes; transformers must build the same tensors
        # from the config.json it writes (on the meta device: shapes only, no memory).
        made = os.path.join(tmp, "llama3-8b-1")
        run(lowbit, "make-model", "--shape", "llama3-8b", "--layers", "1", "--seed", "3", made)
        cfg = transformers.LlamaConfig.from_pretrained(made)
        with torch.device("meta"):
            hf_shapes = {k: tuple(v.shape) for k, v in transformers.LlamaForCausalLM(cfg).state_dict().items()}
        from safetensors import safe_open
        with safe_open(os.path.join(made, "model.safetensors"), "pt") as f:
            ours = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            sample = f.get_tensor("model.layers.0.mlp.up_proj.weight")
        check(ours == hf_shapes and cfg.num_key_value_heads == 8 and cfg.hidden_size == 4096,
              f"make-model llama3-8b: {len(ours)} tensors with transformers' shapes")
        check(sample.dtype == torch.bfloat16 and abs(sample.float().std().item() - 0.02) < 1e-3,
              f"make-model weights bf16 ~ N(0, 0.02): std {sample.float().std().item():.4f}")
        shutil.rmtree(made)

        broken = os.path.join(tmp, "broken")
        shutil.copytree(os.path.join(models, "gqa_llama3_untied"), broken)
        with open(os.path.join(broken, "model.safetensors"), "r+b") as f:
            f.truncate(5000)
        p = run(lowbit, "logits", broken, "--ids", "1,2,3", ok=False)
        check(p.returncode == 1 and "model.safetensors" in p.stderr and p.stderr.count("error") == 1,
              f"corrupt model refused once, naming the file: {p.stderr.strip()!r}")

        # A bad option value is refused by name, without a libtorch stack trace.
        p = run(lowbit, "logits", os.path.join(models, "gqa_llama3_untied"), "--ids", "1,2,3", "--top", "-5", ok=False)
        msg = p.stdout + p.stderr
        check(p.returncode != 0 and "--top" in msg and "Exception raised from" not in msg,
              f"--top -5 refused by name: {msg.strip()!r}")

        # --out naming a directory is refused by name and leaves nothing behind.
        outdir = os.path.join(tmp, "outdir")
        os.makedirs(outdir)
        p = run(lowbit, "logits", os.path.join(models, "gqa_llama3_untied"), "--ids", "1,2,3", "--out", outdir, ok=False)
        left = [f for f in os.listdir(tmp) if f.startswith("outdir")]
        check(p.returncode != 0 and "is a directory" in p.stderr and left == ["outdir"] and not os.listdir(outdir),
              f"--out DIR refused, nothing left: rc {p.returncode}, {p.stderr.strip()!r}, files {left}")

    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
