"""Expected SliM-LLM results from a plain PyTorch transcription of METHODS.md §11
(Aaronhuang-778/SliM-LLM slim-llm/: SliMGPTQ.add_batch / get_salience / get_block / fasterquant,
utils/bitsearch.activation_aware_search and block_quantize, utils/reconstruct.kl_div,
utils/mixed_quantizer.Quantizer (metric mse, norm 2.4, lambda_salience 1), utils/salient_mask), as
run.py's quant_sequential calls them), independent of lowbit's C++.

Usage: make_slim_llm_cases.py OUT.safetensors [MODEL_DIR TOKENIZER_JSON TRAIN_TXT]
Writes W (F32 [64, 1024]: 8 groups, an outlier, a dead input), X (F32 [4, 128, 1024], the calibration
samples), H (accumulated from them as add_batch does; Y = X Wᵀ per sample), "mean<n>.values/.numpy"
(np.mean of n float64 values, for lowbit's copy of NumPy's pairwise sum), and per case
  <case>.errors   f64 [samples, counts]  KL error per sample and candidate count (search cases)
  <case>.count    i64 []                 the count k chosen (k groups at b-1 bits, k at b+1)
  <case>.group_bits  i64 [groups]        the width of each group
  <case>.codes    u8 [out, in]           codes (1-bit groups: sign + 1)
  <case>.scale / <case>.zero  f32 [out, groups]  (1-bit groups: alpha and mu)
  <case>.weight   the dequantized result
Cases: b2_search, b3_search (the sym quirk: 2-bit groups before the first 3/4-bit group of a linear are
symmetric), b2_fixed3 (the reference's --salient_block 3 --nonsalient_block 3), b4_search, b3_map (a
saved bit map loaded: no search, every group asymmetric).
With the small model: block 0's down_proj (768 inputs, 6 groups: counts 1 and 2 searched) and
q_proj (256 inputs, 2 groups: the reference's search has no candidate and stops; lowbit puts every
group at b bits, transcribed here as that rule) at b = 2, over its 8 x 256-token samples.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch, np = require("torch", "safetensors.torch", "numpy")
F = torch.nn.functional
import make_gptq_cases  # noqa: E402  (the GPTQ family's prologue; block_quantize is GPTQ's min-max grid)


def add_batch_hessian(X):
    """SliMGPTQ.add_batch over samples X [N, L, in], one at a time."""
    H, n = torch.zeros(X.shape[-1], X.shape[-1]), 0
    for s in range(X.shape[0]):
        H *= n / (n + 1)
        n += 1
        inp = (2 / n) ** 0.5 * X[s].float().t()
        H += inp.matmul(inp.t())
    return H


def upper_inverse_factor(H):
    return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)


def group_salience(W, U, g):
    return [torch.sum(W[:, s:s + g] ** 2 / (torch.diag(U[s:s + g, s:s + g]).reshape((1, -1))) ** 2).item()
            for s in range(0, W.shape[1], g)]


def get_salience(W, H, g):
    """get_salience: modifies H in place (dead fix, + 0.01 I absolute) -- fasterquant sees it."""
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    H[range(H.shape[0]), range(H.shape[0])] += 0.01
    return group_salience(W, upper_inverse_factor(H.clone()), g)


def labels_for(salience, k):
    order = np.array(salience).argsort()
    labels = [1] * len(salience)
    for i in order[:k]:
        labels[i] = 0
    for i in order[-k:] if k > 0 else []:
        labels[i] = 2
    return labels


def binary(x):  # bitsearch.binary
    zero = torch.mean(x, dim=1)
    scale = torch.mean(torch.abs(x), dim=1)
    b = torch.zeros_like(x)
    b += x
    b -= zero[:, None]
    out = torch.sign(b) * scale[:, None]
    out += zero[:, None]
    return out


def block_quantize(w, bits):  # bitsearch.block_quantize: plain per-row asymmetric min-max
    if bits == 1:
        return binary(w)
    scale, zero = make_gptq_cases.grid(w, 2 ** bits - 1, False)  # GPTQ's Quantizer, as the reference copies it
    return make_gptq_cases.qdq(w, scale, zero, 2 ** bits - 1)


def kl_div(q, y):  # reconstruct.kl_div(activation_in @ tmp.T, out)
    t1 = F.softmax(q, dim=-1).clamp(min=1e-6)
    t2 = F.softmax(y, dim=-1).clamp(min=1e-6)
    return F.kl_div(torch.log(t2), t1, reduction="batchmean")


def search_errors(W, salience, x, y, bits, g):
    """activation_aware_search for one sample: x [L, in], y [1, L, out] as the hook passes them."""
    errors = []
    for k in range(1, len(salience) // 2):
        labels = labels_for(salience, k)
        tmp = torch.zeros_like(W)
        for b, s in enumerate(range(0, W.shape[1], g)):
            tmp[:, s:s + g] = block_quantize(W[:, s:s + g], bits - 1 + labels[b])
        errors.append(kl_div(x @ tmp.T, y).item())
    return errors


class MixedQuantizer:
    """mixed_quantizer.Quantizer (norm 2.4, lambda_salience 1); sym starts True, as constructed."""

    def __init__(self):
        self.sym = True

    def fit(self, w, Ublk, bits):
        self.bits = bits
        if bits == 1:
            self.scale, self.zero = torch.mean(torch.abs(w), dim=1), torch.mean(w, dim=1)
            return
        maxq = torch.tensor(2 ** bits - 1)
        sens = w ** 2 / (torch.diag(Ublk).reshape((1, -1))) ** 2
        z = (sens - torch.mean(sens)) / torch.std(sens)
        lo = torch.min(sens[torch.abs(z) > 2])
        mask0, mask1 = sens < lo, sens >= lo
        tmp = torch.zeros(w.shape[0])
        xmin = torch.minimum(w.min(1)[0], tmp)
        xmax = torch.maximum(w.max(1)[0], tmp)
        tmp = (xmin == 0) & (xmax == 0)
        xmin[tmp], xmax[tmp] = -1, +1
        scale = (xmax - xmin) / maxq
        zero = torch.full_like(scale, (maxq + 1) / 2) if self.sym else torch.round(-xmin / scale)
        best = torch.full([w.shape[0]], float("inf"))
        nan = torch.tensor(float("nan"))
        for p in torch.cat([torch.ones(1), torch.linspace(1.0, 1.1, 51)[1:], torch.linspace(1.0, 0.9, 51)[1:]]):
            xmin1, xmax1 = p * xmin, p * xmax
            scale1 = (xmax1 - xmin1) / maxq
            zero1 = torch.round(-xmin1 / scale1) if not self.sym else zero
            wq = scale1.unsqueeze(1) * (torch.clamp(torch.round(w / scale1.unsqueeze(1)) + zero1.unsqueeze(1), 0, maxq)
                                        - zero1.unsqueeze(1))
            e_ns = torch.nansum((torch.where(mask0, wq, nan) - torch.where(mask0, w, nan)).abs().pow(2.4), 1)
            e_s = torch.nansum((torch.where(mask1, wq, nan) - torch.where(mask1, w, nan)).abs().pow(2.4), 1)
            err = e_ns + 1 * e_s
            better = err < best
            if torch.any(better):
                best[better] = err[better]
                scale[better] = scale1[better]
                zero[better] = zero1[better]
        self.scale, self.zero, self.maxq = scale, zero, maxq

    def quantize(self, w):  # -> (dequantized, code)
        if self.bits == 1:
            s = torch.sign(w - self.zero)
            return s * self.scale + self.zero, s + 1
        code = torch.clamp(torch.round(w / self.scale) + self.zero, 0, self.maxq)
        return self.scale * (code - self.zero), code


def fasterquant(W, H, bits, g, count, percdamp=0.01, saved=None):
    """H as get_salience left it (its dead fix makes fasterquant's own a no-op: W is not zeroed).
    saved: a loaded bit map (saved_block_precision): its widths, every group asymmetric."""
    W, U = make_gptq_cases.dead_fix_and_factor(W, H, percdamp)
    rows, cols = W.shape
    labels = labels_for(group_salience(W, U, g), count) if saved is None else [w - bits + 1 for w in saved]
    ngroups = cols // g
    scales, zeros = torch.zeros(rows, ngroups), torch.zeros(rows, ngroups)
    codes = torch.zeros(rows, cols, dtype=torch.uint8)
    group_bits = []
    q = MixedQuantizer()
    for b, st in enumerate(range(0, cols, g)):
        ed = st + g
        if labels[b] != 0 or saved is not None:
            q.sym = False
        width = bits - 1 + labels[b]
        group_bits.append(width)
        W1 = W[:, st:ed].clone()
        Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
        U1 = U[st:ed, st:ed]
        q.fit(W1, U1, width)
        scales[:, b], zeros[:, b] = q.scale.squeeze(), q.zero.squeeze()
        for i in range(g):
            w, d = W1[:, i], U1[i, i]
            qi, code = q.quantize(w)
            Q1[:, i] = qi
            codes[:, st + i] = code.to(torch.uint8)
            err = (w - qi) / d
            W1[:, i:] -= err.unsqueeze(1).matmul(U1[i, i:].unsqueeze(0))
            Err1[:, i] = err
        W[:, st:ed] = Q1
        W[:, ed:] -= Err1.matmul(U[st:ed, ed:])
    return {"group_bits": torch.tensor(group_bits), "codes": codes, "scale": scales, "zero": zeros, "weight": W}


def slim_llm(W, X, bits, g=128, fixed=None):
    """quant_sequential for one linear: Hessian pass, salience, per-sample count search, fasterquant."""
    H = add_batch_hessian(X)
    out = {}
    if fixed is not None:
        count = fixed
    else:
        salience = get_salience(W, H, g)  # modifies H
        errors = [search_errors(W, salience, X[s], (X[s] @ W.T).unsqueeze(0), bits, g) for s in range(X.shape[0])]
        if len(errors[0]) == 0:
            count = 0  # no candidate (fewer than 4 groups): every group at b bits (lowbit's rule)
        else:
            average = [np.mean(e) for e in zip(*errors)]
            count = average.index(min(average)) + 1
        out["errors"] = torch.tensor(errors, dtype=torch.float64)
    out["count"] = torch.tensor(count)
    out.update(fasterquant(W, H, bits, g, count))
    return out


CASES = {"b2_search": (2, None), "b3_search": (3, None), "b2_fixed3": (2, 3), "b4_search": (4, None)}


def main():
    if len(sys.argv) not in (2, 5):
        sys.exit(__doc__)
    torch.set_grad_enabled(False)
    torch.manual_seed(102)
    rows, cols, samples, L = 64, 1024, 4, 128
    # Groups of different weight and activation scales, so that the search picks 2 (b = 2, 3) of 3 counts.
    W = torch.randn(rows, cols) * 0.05 * (torch.rand(8) * 2 + 0.2).repeat_interleave(128)
    X = torch.randn(samples, L, cols) * (torch.rand(8) * 3 + 0.3).repeat_interleave(128)
    W[5, 700] = 0.9     # an outlier
    X[:, :, 333] = 0.0  # a dead input
    out = {"W": W.contiguous(), "X": X.contiguous(), "H": add_batch_hessian(X).contiguous()}
    for n in (5, 128, 300):  # np.mean's pairwise summation: sequential, eight accumulators, halves
        v = torch.rand(n, dtype=torch.float64) * 100
        out[f"mean{n}.values"], out[f"mean{n}.numpy"] = v, torch.tensor(np.mean(v.numpy().tolist()))
    for name, (bits, fixed) in CASES.items():
        for k, v in slim_llm(W, X, bits, fixed=fixed).items():
            out[f"{name}.{k}"] = v.contiguous()
    # The saved-map path: get_salience and the search skipped (H as accumulated), widths as loaded,
    # every group asymmetric (a leading 2-bit group too, unlike b3_search).
    saved = [2, 3, 2, 3, 3, 3, 4, 4]
    out["b3_map.group_bits"] = torch.tensor(saved)
    for k, v in fasterquant(W, add_batch_hessian(X), 3, 128, 0, saved=saved).items():
        out[f"b3_map.{k}"] = v.contiguous()
    if len(sys.argv) == 5:
        import make_awq_cases as plain
        cfg, weights, x, cs = plain.block_inputs(*sys.argv[2:5])
        Wb = {n: weights[f"model.layers.0.{n}.weight"].float() for n in plain.LINEARS +
              ["input_layernorm", "post_attention_layernorm"]}
        Xb = plain.linear_inputs(Wb, cfg, x, cs)
        for linear, inp in (("mlp.down_proj", "mlp_down"), ("self_attn.q_proj", "attention")):
            out[f"tiny.{linear}.W"] = Wb[linear].contiguous()
            out[f"tiny.{linear}.X"] = Xb[inp].float().contiguous()
            out[f"tiny.{linear}.H"] = add_batch_hessian(Xb[inp].float()).contiguous()
            for k, v in slim_llm(Wb[linear], Xb[inp].float(), 2).items():
                out[f"tiny.{linear}.b2_search.{k}"] = v.contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_torch.save_file(out, sys.argv[1])
    print(f"{len(CASES)} SliM-LLM cases" + (" and the small model's down_proj, q_proj" if len(sys.argv) == 5 else ""))


if __name__ == "__main__":
    main()
