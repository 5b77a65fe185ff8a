"""Builds small random LLaMA-3-style models with Hugging Face transformers and records their logits.

For each model OUT/<name>/ holds config.json, the safetensors weights (single file or sharded with
model.safetensors.index.json) and reference.safetensors with
  ids          I64 [batch, seq]          the token ids both implementations run
  logits_fp32  F32 [batch, seq, vocab]   transformers LlamaForCausalLM in float32
  logits_bf16  F32 [batch, seq, vocab]   transformers in bfloat16 (weights rounded to bf16), as float32
The C++ test (test_forward_vs_hf) loads the same directory with lowbit and compares.
Usage: make_hf_models.py OUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch, transformers, safetensors_torch = require("torch", "transformers", "safetensors.torch")

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}

# name -> (config overrides, save dtype, max_shard_size or None, batch, seq)
MODELS = {
    # GQA (8 query heads over 2 KV heads), llama3 RoPE scaling, untied lm_head, float32 single file.
    "gqa_llama3_untied": (dict(hidden_size=128, intermediate_size=344, num_hidden_layers=3,
                               num_attention_heads=8, num_key_value_heads=2, vocab_size=512,
                               rope_theta=500000.0, rope_scaling=LLAMA3_ROPE, rms_norm_eps=1e-5,
                               tie_word_embeddings=False), torch.float32, None, 2, 100),
    # Tied embeddings, plain RoPE, multi-head attention, saved in float16.
    "tied_mha_f16": (dict(hidden_size=96, intermediate_size=256, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4, vocab_size=384,
                          rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
                     torch.float16, None, 3, 33),
    # Sharded save (index + several files), GQA, llama3 RoPE, saved in bfloat16.
    "sharded_gqa_bf16": (dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                              num_attention_heads=4, num_key_value_heads=1, vocab_size=640,
                              rope_theta=500000.0, rope_scaling=LLAMA3_ROPE, rms_norm_eps=1e-5,
                              tie_word_embeddings=False), torch.bfloat16, "200KB", 2, 80),
}


def randomize(model, seed):
    """Weights large enough that attention is far from uniform, norms far from 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
            else:
                std = 0.15 if ("q_proj" in name or "k_proj" in name) else 0.08
                p.copy_(std * torch.randn(p.shape, generator=g))


def build(out_dir, name, overrides, save_dtype, shard, batch, seq, seed):
    path = os.path.join(out_dir, name)
    os.makedirs(path, exist_ok=True)
    config = transformers.LlamaConfig(max_position_embeddings=256, **overrides)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config).eval()
    randomize(model, seed)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.to(save_dtype).save_pretrained(path, **kwargs)

    # The references come from the saved files, loaded the way a user loads them (a module's .to()
    # would also round buffers such as RoPE's inv_freq, which from_pretrained keeps in fp32).
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=g)
    with torch.no_grad():
        ref32 = transformers.LlamaForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        fp32 = ref32(input_ids=ids).logits.float()
        ref16 = transformers.LlamaForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
        bf16 = ref16(input_ids=ids).logits.float()
    safetensors_torch.save_file({"ids": ids.to(torch.int64).contiguous(), "logits_fp32": fp32.contiguous(),
                                 "logits_bf16": bf16.contiguous()}, os.path.join(path, "reference.safetensors"))
    files = sorted(f for f in os.listdir(path) if f.startswith("model"))
    print(f"{name}: {files}, logits {tuple(fp32.shape)}, max|logit| {fp32.abs().max():.3f}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for i, (name, spec) in enumerate(MODELS.items()):
        build(out, name, *spec, seed=1234 + 17 * i)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
