"""Expected GPTQ results from a plain, obviously-correct PyTorch transcription of METHODS.md §5 (the
IST-DASLab/gptq `fasterquant` algorithm): column by column, rank-1 updates inside a block, lazy
update of the remaining columns, optional act-order and static groups. Independent of lowbit's
row-tiled C++ solver, which must reproduce it.

Usage: make_gptq_cases.py OUT.safetensors
Writes W (F32 [48, 512]), H (F32 [512, 512], from random activations with correlated channels, one
dead input), per case "<name>.weight" (dequantized result) and "<name>.losses", and "U64": the
upper Cholesky factor of the inverse of the damped H (dead input set to 1), computed in float64,
to check both of lowbit's factorisation routes against.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")

CASES = {  # name -> (bits, group (-1: per channel), sym, act_order, static_groups, block)
    "w4_g128": (4, 128, False, False, False, 128),
    "w3_g128": (3, 128, False, False, False, 128),
    "w2_g128": (2, 128, False, False, False, 128),
    "w4_perchannel": (4, -1, False, False, False, 128),
    "w3_perchannel_sym": (3, -1, True, False, False, 128),
    "w4_g64_block128": (4, 64, False, False, False, 128),
    "w3_g128_actorder": (3, 128, False, True, False, 128),
    "w4_g64_actorder_static": (4, 64, False, True, True, 128),
    "w8_perchannel_block32": (8, -1, False, False, False, 32),
}


def grid(x, maxq, sym):
    """Per-row (scale, zero) of x [rows, n], GPTQ's min-max convention."""
    xmin = torch.minimum(x.min(1).values, torch.zeros(x.shape[0]))
    xmax = torch.maximum(x.max(1).values, torch.zeros(x.shape[0]))
    if sym:
        xmax = torch.maximum(xmin.abs(), xmax)
        xmin = torch.where(xmin < 0, -xmax, xmin)
    both = (xmin == 0) & (xmax == 0)
    xmin[both], xmax[both] = -1.0, 1.0
    scale = (xmax - xmin) / maxq
    zero = torch.full_like(scale, (maxq + 1) / 2) if sym else torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def qdq(x, scale, zero, maxq):
    return scale * (torch.clamp(torch.round(x / scale) + zero, 0, maxq) - zero)


def dead_fix_and_factor(W, H, percdamp):
    """The GPTQ family's prologue (no act-order) on copies: dead inputs' H diagonal 1 and W columns
    0, H += percdamp * mean(diag H) I, U = chol_upper(H^-1) by the reference's three factorisations."""
    W, H = W.clone().float(), H.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    damp = percdamp * torch.mean(torch.diag(H))
    H[range(H.shape[0]), range(H.shape[0])] += damp
    return W, torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)


def gptq(W, H, bits, group, sym, act_order, static_groups, block, percdamp=0.01):
    W, H = W.clone(), H.clone()
    maxq = 2 ** bits - 1
    cols = W.shape[1]
    scale, zero = grid(W, maxq, sym)  # per-channel grid, fitted before dead columns are zeroed
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    groups = [grid(W[:, i:i + group], maxq, sym) for i in range(0, cols, group)] if static_groups else None
    if act_order:
        perm = torch.argsort(torch.diag(H), descending=True, stable=True)
        W, H = W[:, perm], H[perm][:, perm]
    H[range(cols), range(cols)] += percdamp * torch.mean(torch.diag(H))
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q, losses = torch.zeros_like(W), torch.zeros_like(W)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1, E1 = W[:, i1:i2].clone(), torch.zeros(W.shape[0], i2 - i1)
        for i in range(i2 - i1):
            c = i1 + i
            if group != -1:
                if static_groups:
                    scale, zero = groups[(perm[c].item() if act_order else c) // group]
                elif c % group == 0:
                    scale, zero = grid(W[:, c:c + group], maxq, sym)
            w, d = W1[:, i], U[c, c]
            q = qdq(w.unsqueeze(1), scale, zero, maxq).flatten()
            Q[:, c] = q
            losses[:, c] = (w - q) ** 2 / d ** 2 / 2
            e = (w - q) / d
            W1[:, i:] -= e.unsqueeze(1).matmul(U[c, c:i2].unsqueeze(0))
            E1[:, i] = e
        W[:, i2:] -= E1.matmul(U[i1:i2, i2:])
    if act_order:
        inv = torch.argsort(perm)
        Q, losses = Q[:, inv], losses[:, inv]
    return Q, losses.sum(0)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.manual_seed(5)
    # libtorch's default thread count, as the C++ test uses: BLAS/LAPACK results (the Cholesky
    # factors, the lazy updates) can differ in the last bit between thread counts.
    rows, cols, tokens = 48, 512, 2048
    W = torch.randn(rows, cols) * 0.05
    W[5, 77] = 0.9  # an outlier
    mix = torch.randn(cols, cols) * 0.2 + torch.eye(cols)
    X = torch.randn(tokens, cols) @ mix  # correlated input channels
    X[:, 300] = 0.0  # a dead input
    X[:, 10] *= 8.0  # a salient input
    H = 2.0 / 8 * (X.t() @ X)  # as if 8 sequences of 256 tokens
    out = {"W": W.contiguous(), "H": H.contiguous()}
    Hd = H.clone()
    Hd[torch.diag(Hd) == 0, torch.diag(Hd) == 0] = 1
    Hd[range(cols), range(cols)] += 0.01 * torch.mean(torch.diag(Hd))  # damped in fp32, as gptq() does
    Hd64 = Hd.double()
    out["U64"] = torch.linalg.cholesky(torch.linalg.inv(Hd64), upper=True).float().contiguous()
    for name, args in CASES.items():
        q, l = gptq(W, H, *args)
        out[f"{name}.weight"] = q.contiguous()
        out[f"{name}.losses"] = l.contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_torch.save_file(out, sys.argv[1])
    print(f"{len(CASES)} GPTQ cases")


if __name__ == "__main__":
    main()
