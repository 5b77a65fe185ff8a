"""Expected BiLLM results from a plain PyTorch transcription of METHODS.md §10 (Aaronhuang-778/BiLLM:
BRAGPTQ.fasterquant, binary.high_order_residual, utils/structure.structural_guassian_distribution,
utils/autosearch.structural_searching, utils/mask.generate_structural_mask, as run.py calls them with
`braq --blocksize 128 --salient_metric hessian`), independent of lowbit's C++. The split search's
np.quantile is NumPy 1.24.3's (the reference's pin), written out: quantile_numpy124; `--check-numpy124
DIR` compares it with a NumPy 1.24.3 installed in DIR (run once by hand, docs/methods/billm.md).

Usage: make_billm_cases.py OUT.safetensors [MODEL_DIR TOKENIZER_JSON TRAIN_TXT]
Writes W (F32 [64, 512], an outlier column, a dead input), H (F32 [512, 512]), and per case (and
"tall.W" / "tall.H", a 640 x 256 weight whose blocks take NumPy 1.24's float64 quantile path, case
"tall.hessian_up50")
  <case>.salient   i64 [blocks]     the salient-column count chosen per 128-column block
  <case>.split     f32 [blocks]     the split threshold chosen per block (a quantile of |T| off the salient columns)
  <case>.mask      u8 [4, rows, cols]  the masks of the four planes: M1 (order 1), M2 (order 1), M3, M3 (order 2)
  <case>.sign      i8 [4, rows, cols]  the sign of each plane's residual (0 off its mask, and where it is 0)
  <case>.alpha / .mu  f32 [4, rows, blocks]
  <case>.weight    the dequantized result
With the small model: "tiny.<linear>.W" / ".H" for q_proj and down_proj of lowbit-tiny-llama3's block 0
and the same outputs under "tiny.<linear>.<case>".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch, np = require("torch", "safetensors.torch", "numpy")
import make_gptq_cases  # noqa: E402  (the GPTQ family's prologue)
import make_pb_llm_cases  # noqa: E402  (the small model's linears and their Hessians)

CASES = {"hessian_up50": 50, "hessian_up8": 8}  # name -> up_lim (run.py calls it with 50)


def residual_binarize(x, mask, order, planes=None):
    """high_order_residual: order rounds of per-row (μ, α) binarization of the residual, over the
    mask's entries only; appends (sign, α, μ) of each round to `planes` when given."""
    acc = torch.zeros_like(x)
    xm = x.clone() * mask
    for _ in range(order):
        r = torch.where(mask, xm - acc, torch.tensor(float("nan")))
        mu = torch.nanmean(r, dim=1)
        mu = torch.where(torch.isnan(mu), torch.zeros_like(mu), mu)
        r -= mu[:, None]
        alpha = torch.nanmean(torch.abs(r), dim=1)
        alpha = torch.where(torch.isnan(alpha), torch.zeros_like(alpha), alpha)
        s = torch.sign(r)  # sign(nan) = 0 off the mask
        acc = acc + (s * alpha[:, None] + mu[:, None]) * mask
        if planes is not None:
            planes.append((torch.where(mask, s, torch.zeros_like(s)).to(torch.int8), alpha, mu))
    return acc


def quantile_numpy124(x, q):
    """np.quantile(x, q) (method "linear") of fp32 x and q as NumPy 1.24.3 -- the version BiLLM's
    requirements.txt pins -- computes it. Its value-based casting makes the virtual index (n - 1) q
    fp32 while n - 1 fits in uint16 and float64 beyond; the weight t = index - floor(index) and the
    interpolation a + (b - a) t, or b - (b - a)(1 - t) where t >= 0.5, are float64 (b - a in fp32).
    (NumPy 2 keeps the index, t and the result in fp32.)"""
    x = np.sort(x)
    n1 = x.size - 1
    v = np.float32(n1) * q if n1 <= 65535 else np.float64(n1) * q.astype(np.float64)
    lo = np.floor(v).astype(np.intp)
    t = v - lo  # float64
    a, b = x[lo], x[np.minimum(lo + 1, n1)]
    d = b - a  # fp32
    return np.where(t >= 0.5, b - d * (1 - t), a + d * t)  # float64


def mse(a, b):
    return torch.mean((a - b) ** 2)


def split_masks(T, m3, border):
    rest = ~m3
    g = torch.abs(T * rest)
    return (g < border) * rest, (g >= border) * rest


def search(T, up_lim):
    """structural_searching: the salient column count, then the split of the rest."""
    counts = T.abs().sum(dim=0)
    _, top = torch.topk(counts, up_lim)
    best, k_best = float("inf"), None
    for k in range(1, up_lim):
        m3 = torch.zeros(T.shape, dtype=torch.bool)
        m3[:, top[:k]] = True
        err = mse(T, residual_binarize(T, ~m3, 2) + residual_binarize(T, m3, 2))
        if err < best:
            best, k_best = err, k
    _, top = torch.topk(counts, k_best)
    m3 = torch.zeros(T.shape, dtype=torch.bool)
    m3[:, top] = True
    g3 = residual_binarize(T, m3, 2)
    flat = torch.abs(T * ~m3).view(-1)
    q = torch.linspace(0.10, 0.90, 81)
    borders = torch.tensor(quantile_numpy124(flat.numpy(), q.numpy()))  # float64, compared as fp32
    best, split = float("inf"), None
    for p in borders:
        m1, m2 = split_masks(T, m3, p)
        err = mse(T, residual_binarize(T, m1, 1) + residual_binarize(T, m2, 1) + g3)
        if err < best:
            best, split = err, p
    m1, m2 = split_masks(T, m3, split)
    return k_best, split, m1, m2, m3


def billm(W, H, up_lim, blocksize=128, percdamp=0.01):
    W, Hinv = make_gptq_cases.dead_fix_and_factor(W, H, percdamp)
    rows, cols = W.shape
    nb = (cols + blocksize - 1) // blocksize
    mask = torch.zeros(4, rows, cols, dtype=torch.uint8)
    sign = torch.zeros(4, rows, cols, dtype=torch.int8)
    alpha, mu = torch.zeros(4, rows, nb), torch.zeros(4, rows, nb)
    salient, splits = torch.zeros(nb, dtype=torch.int64), torch.zeros(nb)
    for b, st in enumerate(range(0, cols, blocksize)):
        ed = min(st + blocksize, cols)
        T = W[:, st:ed] ** 2 / (torch.diag(Hinv[st:ed, st:ed]).reshape((1, -1))) ** 2  # hessian metric
        k, split, m1, m2, m3 = search(T, up_lim)
        salient[b], splits[b] = k, split
        W1 = W[:, st:ed].clone()
        planes = []
        parts = [residual_binarize(W1, m, o, planes) for m, o in ((m1, 1), (m2, 1), (m3, 2))]
        Q1 = torch.zeros_like(W1)
        for part, m in zip(parts, (m1, m2, m3)):
            Q1 += part * m
        for p, (m, (s, a, u)) in enumerate(zip((m1, m2, m3, m3), planes)):
            mask[p, :, st:ed], sign[p, :, st:ed], alpha[p, :, b], mu[p, :, b] = m, s, a, u
        Err1 = (W1 - Q1) / torch.diag(Hinv[st:ed, st:ed])[None, :]  # no update inside the block
        W[:, st:ed] = Q1
        W[:, ed:] -= Err1.matmul(Hinv[st:ed, ed:])
    return {"salient": salient, "split": splits, "mask": mask, "sign": sign, "alpha": alpha, "mu": mu, "weight": W}


def check_numpy124(lib):
    """quantile_numpy124 against the real NumPy 1.24.3 (in `lib`, run in a process of its own) on
    magnitudes shaped like the search's: |T| of random blocks, a third of them zeros."""
    import subprocess
    import tempfile
    rng = np.random.RandomState(0)
    q = torch.linspace(0.10, 0.90, 81).numpy()
    with tempfile.TemporaryDirectory() as d:
        cases = []
        for i, n in enumerate((128 * 64, 128 * 1000, 128 * 4096)):
            x = (np.abs(rng.randn(n)) ** rng.uniform(1, 4)).astype(np.float32)
            x[: n // 3] = 0
            np.save(f"{d}/x{i}.npy", x)
            cases.append(quantile_numpy124(x, q))
        np.save(f"{d}/q.npy", q)
        code = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np; q = np.load(sys.argv[2] + '/q.npy');"
                "[np.save(f'{sys.argv[2]}/r{i}.npy', np.quantile(np.load(f'{sys.argv[2]}/x{i}.npy'), q=q)) for i in range(3)];"
                "print(np.__version__)")
        version = subprocess.run([sys.executable, "-S", "-c", code, lib, d], check=True, capture_output=True,
                                 text=True).stdout.strip()
        same = [np.array_equal(np.load(f"{d}/r{i}.npy"), c) for i, c in enumerate(cases)]
        newer = [np.array_equal(np.quantile(np.load(f"{d}/x{i}.npy"), q=q).astype(np.float64), c) for i, c in enumerate(cases)]
    print(f"quantile_numpy124 vs NumPy {version}: identical {same}; NumPy {np.__version__} identical {newer}")
    sys.exit(0 if all(same) else 1)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-numpy124":
        check_numpy124(sys.argv[2])
    if len(sys.argv) not in (2, 5):
        sys.exit(__doc__)
    torch.set_grad_enabled(False)
    torch.manual_seed(12)
    rows, cols = 64, 512
    W = torch.randn(rows, cols) * 0.05
    W[:, 40] *= 12.0  # a salient column
    W[9, 300] = 0.9   # an outlier
    X = torch.randn(2048, cols) @ (torch.randn(cols, cols) * 0.2 + torch.eye(cols))
    X[:, 200] *= 6.0
    X[:, 333] = 0.0  # a dead input
    H = 2.0 / 8 * (X.t() @ X)
    out = {"W": W.contiguous(), "H": H.contiguous()}
    for name, up_lim in CASES.items():
        for k, v in billm(W, H, up_lim).items():
            out[f"{name}.{k}"] = v.contiguous()
    # A taller weight: 640 x 128 magnitudes per block, past NumPy 1.24's fp32 virtual index (n - 1 > 65535).
    Wt = torch.randn(640, 256) * 0.05
    Xt = torch.randn(1024, 256) @ (torch.randn(256, 256) * 0.2 + torch.eye(256))
    Ht = 2.0 / 8 * (Xt.t() @ Xt)
    out["tall.W"], out["tall.H"] = Wt.contiguous(), Ht.contiguous()
    for k, v in billm(Wt, Ht, 50).items():
        out[f"tall.hessian_up50.{k}"] = v.contiguous()
    if len(sys.argv) == 5:
        tiny = make_pb_llm_cases.tiny_linears(*sys.argv[2:5], {"self_attn.q_proj": "attention",
                                                              "mlp.down_proj": "mlp_down"})
        for linear, (Wl, Hl) in tiny.items():
            out[f"tiny.{linear}.W"], out[f"tiny.{linear}.H"] = Wl.contiguous(), Hl.contiguous()
            for k, v in billm(Wl, Hl, 50).items():
                out[f"tiny.{linear}.hessian_up50.{k}"] = v.contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_torch.save_file(out, sys.argv[1])
    print(f"{len(CASES)} BiLLM cases" + (" and the small model's q_proj, down_proj" if len(sys.argv) == 5 else ""))


if __name__ == "__main__":
    main()
