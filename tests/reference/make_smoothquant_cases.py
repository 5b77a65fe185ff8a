"""Expected SmoothQuant results from a plain PyTorch transcription of METHODS.md §7
(mit-han-lab/smoothquant: calibration.get_act_scales, smooth.smooth_ln_fcs_llama_like,
fake_quant.quantize_weight_per_channel_absmax / quantize_activation_per_token_absmax / W8A8Linear
with quantize_output for q/k/v), independent of lowbit's C++.

Usage: make_smoothquant_cases.py MODEL_DIR TOKENIZER_JSON TRAIN_TXT OUT.safetensors

On lowbit-tiny-llama3 over 8 x 256 tokens of the tiny corpus (block inputs "x.<b>" from the
full-precision model, as make_awq_cases.py), per block b and case (w8a8 alpha 0.85, w4a4 alpha 0.5):
  <case>.<b>.act_max.attention / .act_max.mlp   per-channel max |x| of the q_proj / gate_proj inputs
  <case>.<b>.s.attention / .s.mlp               smoothing factors
  <case>.<b>.norm.input / .norm.post            smoothed RMSNorm weights
  <case>.<b>.weight.<module>                    smoothed, per-channel absmax fake-quantized weights
  <case>.<b>.out                                the block's output with W and A quantized (q/k/v outputs too)
and "act.in" with "act.q8" / "act.q4" / "act.q6": the per-token quantizer on a tensor with outliers and
an all-zero token.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")

import make_awq_cases as plain  # noqa: E402  (the plain LLaMA block: rms_norm, rope, ...)

CASES = {"w8a8": (8, 8, 0.85), "w4a4": (4, 4, 0.5)}


def quantize_weight_per_channel_absmax(w, n_bits):
    scales = w.abs().max(dim=-1, keepdim=True)[0]
    q_max = 2 ** (n_bits - 1) - 1
    scales.clamp_(min=1e-5).div_(q_max)
    return w.clone().div_(scales).round_().mul_(scales)


def quantize_activation_per_token_absmax(t, n_bits):
    t = t.clone()  # the reference works in place on the linear's input
    scales = t.abs().max(dim=-1, keepdim=True)[0]
    q_max = 2 ** (n_bits - 1) - 1
    scales.clamp_(min=1e-5).div_(q_max)
    return t.div_(scales).round_().mul_(scales)


def smooth_ln_fcs(ln, fcs, act_scales, alpha):
    weight_scales = torch.cat([fc.abs().max(dim=0, keepdim=True)[0] for fc in fcs], dim=0)
    weight_scales = weight_scales.max(dim=0)[0].clamp(min=1e-5)
    scales = (act_scales.pow(alpha) / weight_scales.pow(1 - alpha)).clamp(min=1e-5)
    return scales, ln / scales, [fc * scales.view(1, -1) for fc in fcs]


def w8a8_block(W, cfg, x, cs, a_bits):
    """The block with every linear a W8A8Linear (act_quant per token; q/k/v quantize_output)."""
    aq = lambda t: quantize_activation_per_token_absmax(t, a_bits)  # noqa: E731
    lin = lambda t, n, out=False: (aq(plain.linear(aq(t), W[n])) if out else plain.linear(aq(t), W[n]))  # noqa: E731
    B, T, _ = x.shape
    D, H, KV = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    cos, sin = cs
    h = plain.rms_norm(x, W["input_layernorm"], cfg["rms_norm_eps"])
    q = lin(h, "self_attn.q_proj", True).view(B, T, H, D).transpose(1, 2)
    k = lin(h, "self_attn.k_proj", True).view(B, T, KV, D).transpose(1, 2)
    v = lin(h, "self_attn.v_proj", True).view(B, T, KV, D).transpose(1, 2)
    q, k = q * cos + plain.rotate_half(q) * sin, k * cos + plain.rotate_half(k) * sin
    ctx = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / D ** 0.5,
                                                           enable_gqa=H != KV)
    x1 = x + lin(ctx.transpose(1, 2).reshape(B, T, H * D), "self_attn.o_proj")
    h2 = plain.rms_norm(x1, W["post_attention_layernorm"], cfg["rms_norm_eps"])
    act = torch.nn.functional.silu(lin(h2, "mlp.gate_proj")) * lin(h2, "mlp.up_proj")
    return x1 + lin(act, "mlp.down_proj")


def main():
    cfg, weights, x, cs, out_path = plain.load_inputs(__doc__)
    N = plain.N
    out = {}
    torch.manual_seed(3)
    a = torch.randn(4, 16, 64)
    a[0, 3] = 0.0  # an all-zero token: its scale is clamped to 1e-5
    a[1, :, 7] *= 40.0  # an outlier channel
    out["act.in"] = a.contiguous()
    for bits in (8, 6, 4):
        out[f"act.q{bits}"] = quantize_activation_per_token_absmax(a, bits).contiguous()
    for b in range(cfg["num_hidden_layers"]):
        W = {n: weights[f"model.layers.{b}.{n}.weight"].float() for n in plain.LINEARS +
             ["input_layernorm", "post_attention_layernorm"]}
        out[f"x.{b}"] = x.contiguous()
        X = plain.linear_inputs(W, cfg, x, cs)
        # get_act_scales: a running max over the samples of max |x| per channel.
        act_max = {}
        for inp in ("attention", "mlp"):
            m = None
            for n in range(N):
                cur = X[inp][n].abs().view(-1, X[inp].shape[-1]).max(dim=0)[0].float()
                m = cur if m is None else torch.max(m, cur)
            act_max[inp] = m
        for name, (w_bits, a_bits, alpha) in CASES.items():
            key = f"{name}.{b}"
            s_a, norm_in, (q, k, v) = smooth_ln_fcs(W["input_layernorm"], [W["self_attn.q_proj"], W["self_attn.k_proj"],
                                                                           W["self_attn.v_proj"]], act_max["attention"], alpha)
            s_m, norm_post, (g, u) = smooth_ln_fcs(W["post_attention_layernorm"], [W["mlp.gate_proj"], W["mlp.up_proj"]],
                                                   act_max["mlp"], alpha)
            Ws = dict(W, input_layernorm=norm_in, post_attention_layernorm=norm_post)
            Ws.update({"self_attn.q_proj": q, "self_attn.k_proj": k, "self_attn.v_proj": v, "mlp.gate_proj": g,
                       "mlp.up_proj": u})
            for n in plain.LINEARS:
                Ws[n] = quantize_weight_per_channel_absmax(Ws[n], w_bits)
                out[f"{key}.weight.{n}"] = Ws[n].contiguous()
            out[f"{key}.act_max.attention"], out[f"{key}.act_max.mlp"] = act_max["attention"].clone(), act_max["mlp"].clone()
            out[f"{key}.s.attention"], out[f"{key}.s.mlp"] = s_a.contiguous(), s_m.contiguous()
            out[f"{key}.norm.input"], out[f"{key}.norm.post"] = norm_in.contiguous(), norm_post.contiguous()
            out[f"{key}.out"] = plain.by_micro(lambda xs: w8a8_block(Ws, cfg, xs, cs, a_bits), x).contiguous()
        x = plain.by_micro(lambda xs: plain.block(W, cfg, xs, cs), x)  # full-precision propagation
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    st_torch.save_file(out, out_path)
    print(f"SmoothQuant cases: {len(CASES)} settings x {cfg['num_hidden_layers']} blocks")


if __name__ == "__main__":
    main()
