"""Expected DB-LLM (FDB) decisions and straight-through gradients from a plain PyTorch transcription
of docs/methods/db-llm.md, independent of lowbit's C++ (no reference code exists: METHODS.md §12).

Usage: make_db_llm_cases.py MODEL_DIR OUT.safetensors

On block 0 of lowbit-tiny-llama3, groups of 128 input columns:
  alpha.<module>    [2, out, groups] the initial α1, α2 from the 2-bit min-max grid (GPTQ's quantizer:
                    range widened to include 0, s = (max - min) / 3, z = round(-min / s)):
                    α1 = 2s if z <= 1 else -2s, α2 = s if z is even else -s
  planes.<module>   [2, out, in] u8 the nearest of the levels {0, α2, α1, α1 + α2} (first of ties)
  rtn.<module>      [out, in] the 2-bit RTN weight s * (clamp(round(w / s) + z) - z) on the same grid
  x, y              block inputs [2, 64, hidden] (embeddings of seeded token ids) and the original
                    block's outputs
  loss              mean((block(ŵ; x) - y)^2), ŵ = α1·sg(b1) + α2·sg(b2) + (w - sg(w))
  grad.weight.<module>, grad.alpha.<module>   its gradients by torch.autograd
  trained.alpha.<module>, trained.planes.<module>, trained.losses
                    after stage 1's training from that start: torch.optim.AdamW per tensor (β 0.9/0.999,
                    eps 1e-8, no decay, lr = 5e-3 x the linear's weight RMS for α and latent weights),
                    2 epochs over x one sequence per step; the first and last epochs' mean losses
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")
from _plain_llama import block, rope  # noqa: E402

GROUP, N, L = 128, 2, 64
EPOCHS, LR_ALPHA, LR_WEIGHT = 2, 5e-3, 5e-3
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def grid(w):
    """The 2-bit min-max grid per (row, group): scale, zero [out, groups] (GPTQ's find_params)."""
    out, inp = w.shape
    rows = w.reshape(out * (inp // GROUP), GROUP)
    xmin = torch.clamp(rows.min(1).values, max=0)
    xmax = torch.clamp(rows.max(1).values, min=0)
    both = (xmin == 0) & (xmax == 0)
    xmin, xmax = torch.where(both, -1.0, xmin), torch.where(both, 1.0, xmax)
    scale = (xmax - xmin) / 3
    zero = torch.round(-xmin / scale)
    return scale.reshape(out, -1), zero.reshape(out, -1)


def initial_alpha(w):
    s, z = grid(w)
    return torch.stack([torch.where(z <= 1, 2 * s, -2 * s), torch.where(z % 2 == 0, s, -s)])


def per_column(t):  # [out, groups] -> [out, in]
    return t.repeat_interleave(GROUP, dim=1)


def assign(w, alpha):
    a1, a2 = per_column(alpha[0]), per_column(alpha[1])
    levels = torch.stack([torch.zeros_like(w), a2, a1, a1 + a2])
    k = (w.unsqueeze(0) - levels).abs().argmin(0)  # first of ties
    return torch.stack([k >= 2, k % 2 == 1]).to(torch.uint8)


def rtn(w):
    s, z = grid(w)
    s, z = per_column(s), per_column(z)
    return s * (torch.clamp(torch.round(w / s) + z, 0, 3) - z)


def ste_weight(w, alpha):
    b = assign(w.detach(), alpha.detach()).float()
    return per_column(alpha[0]) * b[0] + per_column(alpha[1]) * b[1] + (w - w.detach())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out_path = sys.argv[1:]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    t = st_torch.load_file(os.path.join(model_dir, "model.safetensors"))
    p = "model.layers.0."
    W = {k[len(p):].removesuffix(".weight"): v.float() for k, v in t.items() if k.startswith(p)}
    g = torch.Generator().manual_seed(7)
    x = t["model.embed_tokens.weight"].float()[torch.randint(0, cfg["vocab_size"], (N, L), generator=g)]
    cs = rope(cfg, L)
    with torch.no_grad():
        y = block(W, cfg, x, cs)
    cases = {"x": x.contiguous(), "y": y.contiguous()}
    weights, alphas, Wq = {}, {}, dict(W)
    for m in LINEARS:
        w = W[m].clone().requires_grad_(True)
        alpha = initial_alpha(W[m]).requires_grad_(True)
        weights[m], alphas[m] = w, alpha
        cases[f"alpha.{m}"] = alpha.detach().clone()
        cases[f"planes.{m}"] = assign(W[m], alpha.detach())
        cases[f"rtn.{m}"] = rtn(W[m])
        Wq[m] = ste_weight(w, alpha)
    loss = (block(Wq, cfg, x, cs) - y).pow(2).mean()
    loss.backward()
    cases["loss"] = loss.detach().reshape(1)
    for m in LINEARS:
        cases[f"grad.weight.{m}"] = weights[m].grad.contiguous()
        cases[f"grad.alpha.{m}"] = alphas[m].grad.contiguous()
    # Stage 1's training from the same start.
    weights = {m: W[m].clone().requires_grad_(True) for m in LINEARS}
    alphas = {m: initial_alpha(W[m]).requires_grad_(True) for m in LINEARS}
    optimizers = []
    for m in LINEARS:
        rms = W[m].pow(2).mean().sqrt().item()
        for p, lr in ((alphas[m], LR_ALPHA * rms), (weights[m], LR_WEIGHT * rms)):
            optimizers.append(torch.optim.AdamW([p], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0))
    losses = []
    for _ in range(EPOCHS):
        total = 0.0
        for i in range(N):
            Wq = dict(W)
            for m in LINEARS:
                Wq[m] = ste_weight(weights[m], alphas[m])
            loss = (block(Wq, cfg, x[i:i + 1], cs) - y[i:i + 1]).pow(2).mean()
            loss.backward()
            for opt in optimizers:
                opt.step()
                opt.zero_grad(set_to_none=True)
            total += loss.item()
        losses.append(total / N)
    cases["trained.losses"] = torch.tensor([losses[0], losses[-1]], dtype=torch.float64)
    for m in LINEARS:
        cases[f"trained.alpha.{m}"] = alphas[m].detach().clone()
        cases[f"trained.planes.{m}"] = assign(weights[m].detach(), alphas[m].detach())
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    st_torch.save_file(cases, out_path)
    print(f"wrote {out_path}: loss {loss.item():.6g}")


if __name__ == "__main__":
    main()
