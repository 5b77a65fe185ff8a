"""Expected QuIP results from a plain PyTorch transcription of METHODS.md §8 (Cornell-RelaxML/QuIP:
method.py QuantMethod.add_batch / post_batch / preproc / postproc, bal.py Balance.fasterquant,
vector_balance.py quantize_weight_vecbal (qfn 'b') and round_ldl_block, as opt.py runs them with
`--quant ldlq --incoh_processing --lazy_batch`), independent of lowbit's C++. The reference keeps the
layer weight in float16 (llama.py loads the model so) and this transcription does the same, step by
step. The transforms U and V are lowbit's own draws for given (seed, block, module), exported by
export_quip_transforms (TRANSFORMS.safetensors) and written again beside each case; their dense
matrices come from this script's transcription of the reference's mul_ortho_butterfly
(make_butterfly_cases.py), so only the factors are lowbit's.
Two choices of lowbit's, followed here: the orthogonal products are taken in float64 (the reference:
dense fp32 products, whose rounding depends on the BLAS) and diag(WᵀW) is a float64 sum of squares
(the reference: the diagonal of an fp32 GEMM); each is rounded once to the reference's dtype.

Usage: make_quip_cases.py OUT.safetensors TRANSFORMS.safetensors [MODEL_DIR TOKENIZER_JSON TRAIN_TXT]
Writes per case <c>: <c>.W (F32 [out, in]), <c>.H (F32 [in, in], (1/N) Σ X Xᵀ summed in float64),
<c>.u.* / <c>.v.* (perm_in, perm_out i64, blocks1, blocks2 f64: the butterflies), <c>.bits,
<c>.npasses, <c>.blocksize (i64 [1]) and the results <c>.codes (u8), <c>.sigma (f32 [1]),
<c>.rescale (f32 [in]), <c>.weight (f32: the fp16 fake-quant weight after the post-processing).
With the small model: cases "tiny.q_proj" and "tiny.down_proj" (block 0, 2 bits).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")
from make_butterfly_cases import butterfly_factors, mul_ortho_butterfly  # noqa: E402


def butterfly(transforms, name):
    """One exported butterfly: {perm_in, perm_out, blocks1, blocks2}, checked against QuIP's factors."""
    b = {k: transforms[f"{name}.{k}"] for k in ("perm_in", "perm_out", "blocks1", "blocks2")}
    n = b["perm_in"].numel()
    assert tuple(x.shape[1] for x in (b["blocks1"], b["blocks2"])) == butterfly_factors(n), name
    return b


def dense(b):
    n = b["perm_in"].numel()
    return mul_ortho_butterfly([b["blocks1"], b["blocks2"]], b["perm_in"], b["perm_out"],
                               torch.eye(n, dtype=torch.float64))


def round_ldl_block(w, H, nbits, blocksize, n_greedy_passes):
    """vector_balance.round_ldl_block (unbiased=False): LDLQ right to left in lazy batches, then the
    greedy passes."""
    (d, _) = H.shape
    L = torch.linalg.cholesky(H)
    L = L @ torch.diag(1 / torch.diag(L))
    L = L - torch.eye(d)
    eta = 0.5 * torch.ones(w.shape)
    w_hat = w.clone()
    for i2 in range(d, 0, -blocksize):
        i1 = max(i2 - blocksize, 0)
        count = i2 - i1
        W1 = w[:, i1:i2]
        W2Hdiff = w[:, i2:] - w_hat[:, i2:]
        WHat1 = w_hat[:, i1:i2].clone()
        L1 = L[:, i1:i2]
        Eta1 = eta[:, i1:i2]
        for i in reversed(range(count)):
            WHat1[:, i] = torch.clamp(
                torch.floor(W1[:, i] + (W1 - WHat1) @ L1[i1:i2, i] + W2Hdiff @ L1[i2:, i] + Eta1[:, i]),
                min=0, max=2 ** nbits - 1)
        w_hat[:, i1:i2] = WHat1
    wr = w_hat.clone()
    s = w_hat - w
    H = H / H.diag().max()
    for _ in range(n_greedy_passes):
        for i2 in range(d, 0, -blocksize):
            i1 = max(i2 - blocksize, 0)
            count = i2 - i1
            W1 = wr[:, i1:i2].clone()
            S0, S1, S2 = s[:, :i1], s[:, i1:i2].clone(), s[:, i2:]
            H0, H1, H2 = H[:i1, i1:i2], H[i1:i2, i1:i2], H[i2:, i1:i2]
            for i in reversed(range(count)):
                Hs = S0 @ H0[:, i] + S1 @ H1[:, i] + S2 @ H2[:, i]
                eps = W1[:, i] - torch.round(W1[:, i] - Hs / H1[i, i])
                W1[:, i] -= eps
                S1[:, i] -= eps
            wr[:, i1:i2] = W1
            s[:, i1:i2] = S1
        wr = torch.clamp(wr, min=0, max=2 ** nbits - 1)
        if (w_hat == wr).all():
            break
        w_hat.copy_(wr)
    return wr


def quip(W, H, U, V, bits, npasses, blocksize, percdamp=0.01):
    """One linear through preproc (rescale, proj, gptqH), fasterquant (qfn 'b', ldlq) and postproc."""
    maxq = torch.tensor(2 ** bits - 1)
    w = W.half()  # the layer's fp16 weight
    H = H.float().clone()
    # preproc_rescale
    wf = w.float()
    H /= H.abs().max()
    diagH = torch.clamp(torch.diag(H), min=1e-8)
    diagW2 = torch.clamp((wf.double() ** 2).sum(0).float(), min=1e-8)
    scaleWH = (diagH / diagW2).sqrt().sqrt().to(torch.float32).clamp(min=1e-8)
    wf *= scaleWH[None, :]
    H /= scaleWH[None, :]
    H /= scaleWH[:, None]
    w = wf.half()
    # preproc_proj
    n = H.shape[0]
    H = H * (n / (torch.trace(H) + 1e-8)) + 1e-2 * torch.eye(n)
    w = (U @ w.double() @ V.T).float().half()
    H = (V @ H.double() @ V.T).float()
    # preproc_gptqH
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    w[:, dead] = 0
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(n)
    H[diag, diag] += damp
    # quantize_weight_vecbal, qfn 'b'
    scale = 2.4 * w.square().mean().sqrt() + 1e-16
    wr = w / scale
    wr = torch.clamp(((wr + 1) / 2) * maxq, 0, maxq)
    wr = round_ldl_block(wr.float(), H, bits, blocksize, npasses)
    codes = wr.clone()
    q = (((wr / maxq) * 2 - 1) * scale).half()
    # postproc: back to the original basis, then the rescale undone, each stored in fp16
    q = (U.T @ q.double() @ V).float().half()
    q = (q / scaleWH[None, :]).half()
    return {"codes": codes.to(torch.uint8), "sigma": scale.float().reshape(1), "rescale": scaleWH,
            "weight": q.float()}


def quip_hessian(X):
    """QuantMethod.add_batch / post_batch: Σ over sequences of X Xᵀ in float64, / N, then fp32."""
    H = torch.zeros(X.shape[-1], X.shape[-1], dtype=torch.float64)
    for s in range(X.shape[0]):
        x = X[s].to(torch.float64)
        H += x.t() @ x
    return (H / X.shape[0]).to(torch.float32)


def add_case(out, name, W, H, transforms, tset, bits, npasses, blocksize):
    u, v = butterfly(transforms, tset + ".u"), butterfly(transforms, tset + ".v")
    assert (u["perm_in"].numel(), v["perm_in"].numel()) == tuple(W.shape), name
    out[f"{name}.W"], out[f"{name}.H"] = W.clone(), H.clone()
    for which, b in (("u", u), ("v", v)):
        for k, t in b.items():
            out[f"{name}.{which}.{k}"] = t.clone()
    out[f"{name}.key"] = transforms[f"{tset}.key"].clone()
    for k, t in (("bits", bits), ("npasses", npasses), ("blocksize", blocksize)):
        out[f"{name}.{k}"] = torch.tensor([t])
    for k, t in quip(W, H, dense(u), dense(v), bits, npasses, blocksize).items():
        out[f"{name}.{k}"] = t.contiguous()


def main():
    if len(sys.argv) not in (3, 6):
        sys.exit(__doc__)
    transforms = st_torch.load_file(sys.argv[2])
    torch.manual_seed(16)
    rows, cols = 96, 384  # 96 = 8 · 12, 384 = 16 · 24
    W = torch.randn(rows, cols) * 0.05
    W[7, 100] = 0.8  # an outlier
    X = (torch.randn(8, 256, cols) @ (torch.randn(cols, cols) * 0.2 + torch.eye(cols)))
    X[:, :, 17] *= 20  # an outlier input channel
    X[:, :, 333] = 0.0  # a dead input
    H = quip_hessian(X)
    out = {}
    for name, bits, npasses, blocksize in (("b2", 2, 0, 128), ("b3", 3, 0, 128), ("b4", 4, 0, 128),
                                           ("b2_greedy", 2, 2, 128), ("b3_block100", 3, 0, 100)):
        add_case(out, name, W, H, transforms, "random", bits, npasses, blocksize)
    if len(sys.argv) == 6:  # the small model's block 0 with its real inputs
        import make_awq_cases as plain
        cfg, weights, x, cs = plain.block_inputs(*sys.argv[3:6])
        Wb = {n: weights[f"model.layers.0.{n}.weight"].float() for n in plain.LINEARS +
              ["input_layernorm", "post_attention_layernorm"]}
        Xs = plain.linear_inputs(Wb, cfg, x, cs)
        for linear, inp in (("self_attn.q_proj", "attention"), ("mlp.down_proj", "mlp_down")):
            name = "tiny." + linear.split(".")[1]
            add_case(out, name, Wb[linear], quip_hessian(Xs[inp]), transforms, name, 2, 0, 128)
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_torch.save_file(out, sys.argv[1])
    print(f"{sum(k.endswith('.codes') for k in out)} QuIP cases")


if __name__ == "__main__":
    main()
