"""Expected NF4 results from bitsandbytes itself (the released package, its CPU path:
functional.quantize_4bit / dequantize_4bit with quant_type="nf4", blocksize 64, with and without
compress_statistics) and expected ICQ results from a plain PyTorch transcription of IR-QLoRA's
utils.py (search, nf4_quant, evaluate_entropy, quantize_tensor; METHODS.md §14), whose NF4 step is
bitsandbytes' quantize_4bit on the CPU (the reference moves the weight to a GPU for it).

Usage: make_nf4_cases.py OUT.safetensors MODEL_DIR
Writes "dynamic_map" (f32 [256], create_dynamic_map()), "code_book" (f32 [16]), and per case <c>:
<c>.W (f32), and for <c>.dq (double quantization) and <c>.plain: .packed (u8), .absmax (u8 or f32),
.nested_absmax (f32), .offset (f32 [1]), .weight (f32, bitsandbytes' dequantize_4bit, reshaped).
ICQ cases <i> (tau_range 0.1, tau_n 100): <i>.W, <i>.factor (f32 per block), <i>.tau1 (u8), <i>.tau2
(f32), <i>.packed / .absmax / .nested_absmax / .offset (NF4 of W − τ with double quantization),
<i>.entropy (f32 per block, at the chosen factor).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch, np, bnb_F, scipy_stats = require("torch", "safetensors.torch", "numpy", "bitsandbytes.functional",
                                                  "scipy.stats")


def bnb_nf4(W, double_quant):
    packed, st = bnb_F.quantize_4bit(W, blocksize=64, compress_statistics=double_quant, quant_type="nf4")
    out = {"packed": packed.reshape(-1).contiguous(), "absmax": st.absmax.contiguous()}
    if double_quant:
        out["nested_absmax"] = st.state2.absmax.contiguous()
        out["offset"] = st.offset.reshape(1).float()
    out["weight"] = bnb_F.dequantize_4bit(packed, st).reshape(W.shape).float().contiguous()
    return out


def evaluate_entropy(packed, blocksize=64):
    """utils.evaluate_entropy: the entropy of each block's 16 code values, fp32, summed over values."""
    w8 = packed.reshape(-1, 1)
    codes = torch.cat((w8 // 16, w8 % 16), 1).reshape(1, -1, blocksize)
    rep = codes.repeat(16, 1, 1)
    values = torch.tensor(range(16)).reshape(16, 1, 1)
    freqs = (rep == values).sum(dim=-1, keepdim=True) / blocksize
    entropy = -freqs * torch.log2(freqs)
    entropy = torch.where(torch.isnan(entropy), 0, entropy)
    return entropy.sum(dim=0).reshape(-1)


def quantize_tensor(X, L):
    """utils.quantize_tensor: the index of the nearest map value (argmin: the first of equals)."""
    return torch.argmin(torch.abs(X.reshape(-1, 1) - L.reshape(1, -1)), dim=-1).to(torch.uint8).reshape(X.shape)


SIGMA = 1 / scipy_stats.norm.ppf(torch.linspace(0.9677083, 0.5, 9)[:-1]).tolist()[0]


def icq(W, tau_range=0.1, tau_n=100):
    """utils.search with blocksize 64, blocksize2 256, then nf4_quant at the chosen τ."""
    shape = W.shape
    fp = W.reshape(-1, 256, 64)
    tau0 = fp.median(2, keepdim=True)[0]
    absmax = (fp - tau0).abs().max(2, keepdim=True)[0]
    best, factor_best = None, None
    for factor in np.linspace(-tau_range * SIGMA, tau_range * SIGMA, tau_n * 2 + 1):
        tau = factor * absmax + tau0
        packed, _ = bnb_F.quantize_4bit((fp - tau).reshape(shape), blocksize=64, compress_statistics=True,
                                        quant_type="nf4")
        entropy = evaluate_entropy(packed)
        if best is None:
            best, factor_best = entropy, torch.full_like(entropy, factor)
        else:
            factor_best = torch.where(entropy > best, factor, factor_best)
            best = torch.max(best, entropy)
    tau = factor_best.reshape(-1, 256, 1) * absmax + tau0
    tau2 = tau.abs().max(dim=1, keepdim=True)[0]
    tau1 = quantize_tensor(tau / tau2, bnb_F.create_dynamic_map())
    out = {"factor": factor_best, "tau1": tau1.reshape(-1), "tau2": tau2.reshape(-1), "entropy": best}
    nf4 = bnb_nf4((fp - tau).reshape(shape), True)
    del nf4["weight"]
    out.update(nf4)
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    torch.manual_seed(17)
    cases = {
        "wide": torch.randn(96, 128) * 0.02,
        "odd": torch.randn(7, 9),           # 63 weights: a partial block and an odd count
        "ragged": torch.randn(33, 65) * 3,  # a partial last block
    }
    # Values exactly on the code book's midpoints (the block's absmax 1): ties go to the lower code;
    # a zero block.
    ties = torch.randn(4, 64) * 0.3
    code = bnb_F.get_4bit_type("nf4", device="cpu")
    mids = (code[:-1] + code[1:]) / 2
    ties[0, :15], ties[0, 15] = mids, 1.0
    ties[1, :15], ties[1, 15] = -mids, -1.0
    ties[2] = 0
    cases["ties"] = ties
    from safetensors.torch import load_file
    model = load_file(os.path.join(sys.argv[2], "model.safetensors"))
    for name in ("self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj"):
        cases["tiny." + name.split(".")[1]] = model[f"model.layers.0.{name}.weight"].float()
    out = {"dynamic_map": bnb_F.create_dynamic_map().float(), "code_book": code.float().contiguous()}
    for c, W in cases.items():
        out[f"{c}.W"] = W.contiguous()
        for tag, dq in (("dq", True), ("plain", False)):
            for k, v in bnb_nf4(W, dq).items():
                out[f"{c}.{tag}.{k}"] = v
    # ICQ: a random weight with a skewed block, and the small model's q_proj (201 NF4 passes each).
    skewed = torch.randn(64, 512) * 0.02
    skewed[0, :64] = torch.rand(64) * 0.05
    icq_cases = {"icq.random": skewed, "icq.q_proj": cases["tiny.q_proj"]}
    for c, W in icq_cases.items():
        out[f"{c}.W"] = W.clone()
        for k, v in icq(W).items():
            out[f"{c}.{k}"] = v.contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_torch.save_file(out, sys.argv[1])
    print(f"{len(cases)} NF4 cases, {len(icq_cases)} ICQ cases")


if __name__ == "__main__":
    main()
