"""Expected PB-LLM results from a plain PyTorch transcription of METHODS.md §9
(hahnyuan/PB-LLM gptq_pb: LowHighGPT.fasterquant, LowQuantizer method "xnor", HighQuantizer with
perchannel=True, sym=False, mse=False as run.py builds it), independent of lowbit's C++.

Usage: make_pb_llm_cases.py OUT.safetensors [MODEL_DIR TOKENIZER_JSON TRAIN_TXT]
Writes W (F32 [64, 512], an outlier, a dead input), H (F32 [512, 512], correlated inputs), and per
case <name>.mask (u8), .sign (i8), .alpha / .mu (per (row, group)), .codes (salient 8-bit codes),
.weight (the dequantized result). With the small model: "tiny.<linear>.W" / ".H" for two linears of
lowbit-tiny-llama3's block 0 (H accumulated as the reference's add_batch does, sequence by sequence,
over 8 x 256 tokens of the tiny corpus) and the same outputs under "tiny.<linear>.<case>".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")
import make_gptq_cases  # noqa: E402  (GPTQ's min-max grid: PB-LLM's HighQuantizer is the same code)

CASES = {  # name -> (low_frac, high_bit, salient_metric, groupsize)
    "frac0.9_hessian_g128": (0.9, 8, "hessian", 128),
    "frac0.857_hessian_g128": (6 / 7, 8, "hessian", 128),
    "frac0.8_magnitude_g256": (0.8, 8, "magnitude", 256),
    "frac0.5_hessian_4bit_row": (0.5, 4, "hessian", -1),
}


def pb_llm(W, H, low_frac, high_bit, metric, groupsize, blocksize=128, percdamp=0.01):
    W, H = W.clone().float(), H.clone()
    rows, cols = W.shape
    # HighQuantizer(bits, perchannel=True, sym=False): GPTQ's Quantizer, on W before dead columns are zeroed.
    maxq = 2 ** high_bit - 1
    scale, zero = make_gptq_cases.grid(W, maxq, False)
    W, Hinv = make_gptq_cases.dead_fix_and_factor(W, H, percdamp)
    g = groupsize if groupsize != -1 else cols
    n_groups = (cols + g - 1) // g
    mask = torch.zeros_like(W, dtype=torch.bool)
    mean, alpha = torch.zeros(n_groups, rows, 1), torch.zeros(n_groups, rows, 1)
    for gi in range(n_groups):
        st, ed = gi * g, min(gi * g + g, cols)
        if metric == "magnitude":
            sal = torch.abs(W[:, st:ed])
        else:
            sal = W[:, st:ed] ** 2 / (torch.diag(Hinv[st:ed, st:ed]).reshape((1, -1))) ** 2
        thresh = torch.sort(sal.flatten())[0][int(sal.numel() * low_frac)]
        mask[:, st:ed] = sal <= thresh
        w = W[:, st:ed] * mask[:, st:ed]  # LowQuantizer.calibrate("xnor")
        mean[gi] = w.mean(-1).view(-1, 1)
        alpha[gi] = (w - mean[gi]).abs().mean(-1, keepdim=True)
    sign = torch.zeros_like(W, dtype=torch.int8)
    codes = torch.zeros_like(W, dtype=torch.uint8)
    for col_st in range(0, cols, blocksize):
        col_ed = min(col_st + blocksize, cols)
        W1 = W[:, col_st:col_ed].clone()
        Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
        Hinv1 = Hinv[col_st:col_ed, col_st:col_ed]
        gi = col_st // g
        for i in range(col_ed - col_st):
            w, d = W1[:, i], Hinv1[i, i]
            code = torch.clamp(torch.round(w.unsqueeze(1) / scale) + zero, 0, maxq)
            q_high = (scale * (code - zero)).flatten()
            s = (w.unsqueeze(1) - mean[gi]).sign()
            q_low = (s * alpha[gi] + mean[gi]).flatten()
            m = mask[:, col_st + i]
            q = q_high * ~m + q_low * m
            sign[:, col_st + i] = torch.where(m, s.flatten(), torch.zeros_like(q)).to(torch.int8)
            codes[:, col_st + i] = torch.where(m, torch.zeros_like(q), code.flatten()).to(torch.uint8)
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, col_st:col_ed] = Q1
        W[:, col_ed:] -= Err1.matmul(Hinv[col_st:col_ed, col_ed:])
    return {"mask": mask.to(torch.uint8), "sign": sign, "alpha": alpha.squeeze(-1).t().contiguous(),
            "mu": mean.squeeze(-1).t().contiguous(), "codes": codes, "weight": W}


def tiny_linears(model_dir, tok_path, train, linears):
    """{linear: (W, H)} for linears {name: input kind} of lowbit-tiny-llama3's block 0, H accumulated
    as the GPTQ family's add_batch does: one sequence at a time, H *= n / (n + 1), then 2/n X Xᵀ."""
    import make_awq_cases as plain
    cfg, weights, x, cs = plain.block_inputs(model_dir, tok_path, train)
    Wb = {n: weights[f"model.layers.0.{n}.weight"].float() for n in plain.LINEARS +
          ["input_layernorm", "post_attention_layernorm"]}
    X = plain.linear_inputs(Wb, cfg, x, cs)
    out = {}
    for linear, inp in linears.items():
        Hs, n = torch.zeros(X[inp].shape[-1], X[inp].shape[-1]), 0
        for s in range(X[inp].shape[0]):
            Hs *= n / (n + 1)
            n += 1
            inp_t = (2 / n) ** 0.5 * X[inp][s].float().t()
            Hs += inp_t.matmul(inp_t.t())
        out[linear] = (Wb[linear], Hs)
    return out


def main():
    if len(sys.argv) not in (2, 5):
        sys.exit(__doc__)
    torch.manual_seed(11)
    rows, cols = 64, 512
    W = torch.randn(rows, cols) * 0.05
    W[7, 100] = 0.8  # an outlier
    X = torch.randn(2048, cols) @ (torch.randn(cols, cols) * 0.2 + torch.eye(cols))
    X[:, 333] = 0.0  # a dead input
    H = 2.0 / 8 * (X.t() @ X)
    out = {"W": W.contiguous(), "H": H.contiguous()}
    for name, args in CASES.items():
        for k, v in pb_llm(W, H, *args).items():
            out[f"{name}.{k}"] = v.contiguous()
    if len(sys.argv) == 5:  # the small model's block 0: q_proj and down_proj with their real Hessians
        tiny = tiny_linears(*sys.argv[2:5], {"self_attn.q_proj": "attention", "mlp.down_proj": "mlp_down"})
        for linear, case in (("self_attn.q_proj", "frac0.9_hessian_g128"), ("mlp.down_proj", "frac0.857_hessian_g128")):
            Wl, Hl = tiny[linear]
            out[f"tiny.{linear}.W"], out[f"tiny.{linear}.H"] = Wl.contiguous(), Hl.contiguous()
            for k, v in pb_llm(Wl, Hl, *CASES[case]).items():
                out[f"tiny.{linear}.{case}.{k}"] = v.contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_torch.save_file(out, sys.argv[1])
    print(f"{len(CASES)} PB-LLM cases")


if __name__ == "__main__":
    main()
