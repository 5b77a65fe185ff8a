"""LLaMA's decoder block written plainly in PyTorch (transformers' LlamaDecoderLayer op for op: fp32
RMSNorm, rotate-half RoPE, SDPA with a causal mask and GQA, SiLU-gated MLP), over a dict of weights by
Hugging Face name relative to the block. Shared by the reference-case scripts (AWQ, DB-LLM)."""
import torch


def rms_norm(x, w, eps):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope(cfg, T):
    D = cfg["head_dim"]
    inv = 1.0 / (cfg["rope_parameters"]["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    f = torch.outer(torch.arange(T, dtype=torch.int64).float(), inv)
    e = torch.cat([f, f], -1)
    return e.cos(), e.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def attention(W, cfg, h, cs):
    B, T, _ = h.shape
    D, H, KV = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    cos, sin = cs
    q = (h @ W["self_attn.q_proj"].t()).view(B, T, H, D).transpose(1, 2)
    k = (h @ W["self_attn.k_proj"].t()).view(B, T, KV, D).transpose(1, 2)
    v = (h @ W["self_attn.v_proj"].t()).view(B, T, KV, D).transpose(1, 2)
    q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    ctx = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / D ** 0.5,
                                                           enable_gqa=H != KV)
    return ctx.transpose(1, 2).reshape(B, T, H * D)


def linear(x, w):
    return torch.nn.functional.linear(x, w)


def attn_half(W, cfg, h, cs):  # normed input -> o_proj output
    return linear(attention(W, cfg, h, cs), W["self_attn.o_proj"])


def mlp_half(W, h):  # normed input -> down_proj output
    return linear(mlp_act(W, h), W["mlp.down_proj"])


def mlp_act(W, h):
    return torch.nn.functional.silu(linear(h, W["mlp.gate_proj"])) * linear(h, W["mlp.up_proj"])


def block(W, cfg, x, cs):
    x1 = x + attn_half(W, cfg, rms_norm(x, W["input_layernorm"], cfg["rms_norm_eps"]), cs)
    return x1 + mlp_half(W, rms_norm(x1, W["post_attention_layernorm"], cfg["rms_norm_eps"]))
