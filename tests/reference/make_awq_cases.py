"""Expected AWQ decisions from a plain PyTorch transcription of METHODS.md §6 (mit-han-lab/llm-awq:
auto_scale_block / _search_module_scale, apply_scale, auto_clip_layer, apply_clip,
pseudo_quantize_tensor), written from the reference's algorithm, independent of lowbit's C++.

Usage: make_awq_cases.py MODEL_DIR TOKENIZER_JSON TRAIN_TXT OUT.safetensors

On lowbit-tiny-llama3 (3 blocks, GQA: the v->o junction is skipped as for LLaMA3), over 8
sequences x 256 tokens of the tiny corpus: each block's full-precision inputs are recorded
("x.<b>", the same inputs the C++ test then feeds its AWQ), AWQ runs on the block, and the next
block's inputs are the original block's outputs (AWQ propagates full precision). Per case and block:
  <case>.<b>.ratios            chosen ratio index per junction (qkv, gate/up, down), int64
  <case>.<b>.losses            loss per ratio and junction [3, n_grid] (float64)
  <case>.<b>.clip.<module>     clip max per (row, group), fp32;  .clip_index.<module> the shrink step
  <case>.<b>.weight.<module>   final dequantized weight;  .norm.input / .norm.post the folded norms

Second oracle: the released AutoAWQ package (autoawq 0.2.9, ORACLES.md), its own
AwqQuantizer._compute_best_scale (duo_scaling off: llm-awq's formula) and _compute_best_clip on
the same inputs, for W3 g128: "autoawq.w3_g128.<b>.scales.<junction>" and
"autoawq.w3_g128.<b>.clip.<module>".

Conventions taken where the reference leaves a choice open (the same ones lowbit documents):
  * module outputs are computed in micro-batches of 2 sequences and the mean squared difference is
    summed per micro-batch in fp32, then in float64 (the reference: one mean over the whole batch);
  * the activation abs-mean is summed per micro-batch in fp32, then divided by the token count;
  * the clip subsample takes every (tokens // 512)-th token (here 2048 // 512 = 4).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch, tokenizers = require("torch", "safetensors.torch", "tokenizers")
import warnings  # noqa: E402

with warnings.catch_warnings():  # autoawq warns at import that it is no longer maintained
    warnings.simplefilter("ignore")
    autoawq_quantizer = require("awq.quantize.quantizer")
import json  # noqa: E402

N, L, MICRO = 8, 256, 2
N_GRID, MAX_SHRINK, CLIP_TOKENS = 20, 0.5, 512
CASES = {"w3_g128": (3, 128), "w4_g128": (4, 128), "w4_perchannel": (4, 0)}
AUTOAWQ_CASE = "w3_g128"  # the second oracle runs on this case (its elementwise clip loop is slow)
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


# ---- the model, plainly (tests/reference/_plain_llama.py) ---------------------------------------
from _plain_llama import attention, attn_half, block, linear, mlp_act, mlp_half, rms_norm, rope, rotate_half  # noqa: E402,F401,E501


def linear_inputs(W, cfg, x, cs):
    """The four distinct linear inputs of the original block: [N, L, features] each."""
    eps = cfg["rms_norm_eps"]
    h = rms_norm(x, W["input_layernorm"], eps)
    a = attention(W, cfg, h, cs)
    x1 = x + linear(a, W["self_attn.o_proj"])
    h2 = rms_norm(x1, W["post_attention_layernorm"], eps)
    return {"attention": h, "attention_output": a, "mlp": h2, "mlp_down": mlp_act(W, h2)}


def by_micro(f, x):
    return torch.cat([f(x[s:s + MICRO]) for s in range(0, x.shape[0], MICRO)], 0)


# ---- AWQ ------------------------------------------------------------------------------------------
def pseudo_quantize(w, bits, group):
    """pseudo_quantize_tensor, zero_point=True: min/max per group (zero not forced into range)."""
    shape = w.shape
    w = w.reshape(-1, group if group > 0 else shape[-1])
    mx, mn = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
    maxq = 2 ** bits - 1
    scales = (mx - mn).clamp(min=1e-5) / maxq
    zeros = (-torch.round(mn / scales)).clamp_(0, maxq)
    return ((torch.clamp(torch.round(w / scales) + zeros, 0, maxq) - zeros) * scales).reshape(shape)


def mse(a, b):
    total = 0.0
    for s in range(0, a.shape[0], MICRO):
        total += float((a[s:s + MICRO].float() - b[s:s + MICRO].float()).pow(2).sum())
    return total / a.numel()


def abs_mean(x):
    total = None
    for s in range(0, x.shape[0], MICRO):
        part = x[s:s + MICRO].reshape(-1, x.shape[-1]).abs().float().sum(0)
        total = part if total is None else total + part
    return total / (x.shape[0] * x.shape[1])


def search_scale(W, run, x, group_linears, bits, group):
    """_search_module_scale: the ratio whose scaled-and-quantized group gives the least output MSE."""
    org = run(W)
    x_mean = abs_mean(x)
    best, best_r, best_s, losses = float("inf"), -1, None, []
    for r in range(N_GRID):
        s = x_mean.pow(r * 1 / N_GRID).clamp(min=1e-4).view(-1)
        s = s / (s.max() * s.min()).sqrt()
        Wc = dict(W)
        for n in group_linears:
            Wc[n] = pseudo_quantize(W[n] * s.view(1, -1), bits, group) / s.view(1, -1)
        loss = mse(org, run(Wc))
        losses.append(loss)
        if loss < best:
            best, best_r, best_s = loss, r, s
    assert best_r >= 0
    return best_r, best_s, losses


def auto_clip(w, x, bits, group):
    """auto_clip_layer: per (row, group), the shrink of max |w| with the least partial-output error."""
    G = group if group > 0 else w.shape[1]
    x = x.reshape(-1, x.shape[-1])
    x = x.reshape(1, x.shape[0], -1, G)
    x = x[:, 0::max(1, x.shape[1] // CLIP_TOKENS)]
    w = w.reshape(w.shape[0], 1, -1, G)
    maxes, steps = [], []
    for r0 in range(0, w.shape[0], 256):  # output rows in batches, as the reference (oc_batch_size)
        wb = w[r0:r0 + 256]
        org_max = wb.abs().amax(dim=-1, keepdim=True)
        best = org_max.clone()
        best_i = torch.zeros_like(org_max, dtype=torch.int64)
        min_errs = torch.ones_like(org_max) * 1e9
        # The groups' partial dot products [rows, 1, T, groups]: the reference's (x * w).sum(-1), as one
        # contraction per group (the same products, summed in another order; far less memory).
        org_out = torch.einsum("atgk,rbgk->rtg", x, wb).unsqueeze(1)
        for i in range(int(MAX_SHRINK * N_GRID)):
            max_val = org_max * (1 - i / N_GRID)
            cur = torch.clamp(wb, -max_val, max_val)
            q = pseudo_quantize(cur, bits, group)
            cur_out = torch.einsum("atgk,rbgk->rtg", x, q).unsqueeze(1)
            err = (cur_out - org_out).pow(2).mean(dim=2).view(min_errs.shape)
            better = err < min_errs
            min_errs[better] = err[better]
            best[better] = max_val[better]
            best_i[better] = i
        maxes.append(best)
        steps.append(best_i)
    return torch.cat(maxes, 0).squeeze(1).squeeze(-1), torch.cat(steps, 0).squeeze(1).squeeze(-1)


# ---- the second oracle: AutoAWQ's own search functions -------------------------------------------
class Module(torch.nn.Module):
    """A block half as an nn.Module over nn.Linear children, for AutoAWQ's search (it scales the
    children's weights in place and restores them from the module's state_dict)."""

    def __init__(self, W, names, forward):
        super().__init__()
        self.lin = torch.nn.ModuleDict()
        for n in names:
            m = torch.nn.Linear(W[n].shape[1], W[n].shape[0], bias=False)
            m.weight.data = W[n].clone()
            self.lin[n.replace(".", "_")] = m
        self.names, self.fwd, self.W = names, forward, W

    def forward(self, x):
        Wc = dict(self.W)
        Wc.update({n: self.lin[n.replace(".", "_")].weight for n in self.names})
        return self.fwd(Wc, x)


def autoawq(bits, group):
    q = object.__new__(autoawq_quantizer.AwqQuantizer)
    q.w_bit, q.group_size, q.zero_point, q.duo_scaling = bits, group if group > 0 else -1, True, False
    q.n_parallel_calib_samples, q.max_chunk_memory = None, 1024 * 1024 * 1024
    return q


def autoawq_scale(q, W, names, scaled, forward, x):
    """AutoAWQ's scale search on the module of `names` (its children), scaling `scaled`."""
    mod = Module(W, names, forward)
    x_mean = x.abs().view(-1, x.shape[-1]).float().sum(0) / (x.shape[0] * x.shape[1])  # as _search_best_scale
    org = q._module_forward(x, mod, {})
    w_mean = torch.ones_like(x_mean)  # read only with duo_scaling, which llm-awq does not have
    return q._compute_best_scale(x, w_mean, x_mean, mod, [mod.lin[n.replace(".", "_")] for n in scaled], org, {})


def awq_block(W, cfg, x, cs, bits, group, out, key):
    X = {k: v for k, v in linear_inputs(W, cfg, x, cs).items()}
    junctions = [  # (previous op, group, input, inspected module)
        ("input_layernorm", ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"], "attention",
         lambda Wc: by_micro(lambda h: attn_half(Wc, cfg, h, cs), X["attention"])),
        ("post_attention_layernorm", ["mlp.gate_proj", "mlp.up_proj"], "mlp",
         lambda Wc: by_micro(lambda h: mlp_half(Wc, h), X["mlp"])),
        ("mlp.up_proj", ["mlp.down_proj"], "mlp_down",
         lambda Wc: by_micro(lambda a: linear(a, Wc["mlp.down_proj"]), X["mlp_down"])),
    ]
    assert W["self_attn.v_proj"].shape != W["self_attn.o_proj"].shape  # GQA: no v -> o junction
    found = [search_scale(W, run, X[inp], lins, bits, group) for _, lins, inp, run in junctions]
    Ws = {k: v.clone() for k, v in W.items()}
    q = autoawq(bits, group) if key.startswith(AUTOAWQ_CASE + ".") else None
    forwards = {"attention": lambda Wc, h: attn_half(Wc, cfg, h, cs), "mlp": lambda Wc, h: mlp_half(Wc, h),
                "mlp_down": lambda Wc, a: linear(a, Wc["mlp.down_proj"])}
    for prev, lins, inp, _ in junctions if q else []:
        names = LINEARS[:4] if inp == "attention" else (LINEARS[4:] if inp == "mlp" else ["mlp.down_proj"])
        s = autoawq_scale(q, W, names, lins, forwards[inp], X[inp])
        out[f"autoawq.{key}.scales.{prev}"] = s.contiguous()
    for (prev, lins, inp, _), (_, s, _) in zip(junctions, found):
        if prev.endswith("layernorm"):
            Ws[prev] = Ws[prev] / s
        else:
            Ws[prev][-s.shape[0]:] = Ws[prev][-s.shape[0]:] / s.view(-1, 1)
        for n in lins:
            Ws[n] = Ws[n] * s.view(1, -1)
        X[inp] = X[inp] / s.view(1, -1)  # the cached inputs, for the clip search
    out[f"{key}.ratios"] = torch.tensor([r for r, _, _ in found], dtype=torch.int64)
    out[f"{key}.losses"] = torch.tensor([l for _, _, l in found], dtype=torch.float64)
    inputs_of = {"self_attn.v_proj": "attention", "self_attn.o_proj": "attention_output", "mlp.gate_proj": "mlp",
                 "mlp.up_proj": "mlp", "mlp.down_proj": "mlp_down"}
    for n, inp in inputs_of.items():  # every linear but q and k
        mv, steps = auto_clip(Ws[n], X[inp], bits, group)
        # AutoAWQ's clip quantizes [rows, 1, groups, G] tensors, which its per-channel setting (-1)
        # cannot reshape: per channel is given as one group of the whole row, the same grid.
        if q:
            q.group_size = group if group > 0 else Ws[n].shape[1]
            out[f"autoawq.{key}.clip.{n}"] = q._compute_best_clip(Ws[n], X[inp]).reshape(mv.shape).contiguous()
            q.group_size = group if group > 0 else -1
        G = group if group > 0 else Ws[n].shape[1]
        Ws[n] = torch.clamp(Ws[n].reshape(Ws[n].shape[0], -1, G), -mv.unsqueeze(-1), mv.unsqueeze(-1)).reshape(Ws[n].shape)
        out[f"{key}.clip.{n}"] = mv.contiguous()
        out[f"{key}.clip_index.{n}"] = steps.contiguous()
    for n in LINEARS:
        out[f"{key}.weight.{n}"] = pseudo_quantize(Ws[n], bits, group).contiguous()
    out[f"{key}.norm.input"] = Ws["input_layernorm"].contiguous()
    out[f"{key}.norm.post"] = Ws["post_attention_layernorm"].contiguous()


def load_inputs(doc):
    """MODEL_DIR TOKENIZER_JSON TRAIN_TXT OUT from argv -> config, weights, block 0's inputs
    [N, L, hidden] (the first N * L tokens of the corpus, embedded), RoPE tables, the output path."""
    if len(sys.argv) != 5:
        sys.exit(doc)
    return block_inputs(*sys.argv[1:4]) + (sys.argv[4],)


def block_inputs(model_dir, tok_path, train):
    """config, weights, block 0's inputs [N, L, hidden] (the corpus' first N * L tokens), RoPE tables."""
    torch.set_grad_enabled(False)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    weights = st_torch.load_file(os.path.join(model_dir, "model.safetensors"))
    text = open(train, encoding="utf-8").read()[:40000]  # ample for N * L tokens
    ids = tokenizers.Tokenizer.from_file(tok_path).encode(text, add_special_tokens=False).ids
    assert len(ids) >= N * L, len(ids)
    x = weights["model.embed_tokens.weight"][torch.tensor(ids[:N * L]).view(N, L)]
    return cfg, weights, x, rope(cfg, L)


def main():
    cfg, weights, x, cs, out_path = load_inputs(__doc__)
    out = {}
    for b in range(cfg["num_hidden_layers"]):
        W = {n: weights[f"model.layers.{b}.{n}.weight"].float() for n in LINEARS +
             ["input_layernorm", "post_attention_layernorm"]}
        out[f"x.{b}"] = x.contiguous()
        for name, (bits, group) in CASES.items():
            awq_block(W, cfg, x, cs, bits, group, out, f"{name}.{b}")
        x = by_micro(lambda xs: block(W, cfg, xs, cs), x)  # full-precision propagation
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    st_torch.save_file(out, out_path)
    print(f"AWQ cases: {len(CASES)} settings x {cfg['num_hidden_layers']} blocks")


if __name__ == "__main__":
    main()
