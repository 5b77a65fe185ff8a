"""Expected values for DB-LLM's stage 2 (lowbit distill) from a plain PyTorch transcription of
docs/methods/db-llm.md, independent of lowbit's C++.

Usage: make_distill_cases.py MODEL_DIR OUT.safetensors

The losses on fixed logits (teacher t, student s: [tokens, vocab] with tokens chosen to span the
entropies: a near one-hot teacher, a near uniform one, and random ones of several sharpnesses):
  p = softmax, kl_i = sum_v p_t (log p_t - log p_s), H~ = -sum_v p log p / log(vocab),
  dad weight_i = H~_t,i * H~_s,i (no gradient), kl weight_i = 1,
  loss = sum_i weight_i kl_i mask_i / sum_i mask_i
  logits.teacher, logits.student, mask, {kl,dad}.{kl,weight,loss,grad}  (grad: d loss / d student logits)
The whole small model (3 blocks) as teacher, and as student every linear in FDB's initial form
(α from the 2-bit min-max grid, planes the nearest levels: make_db_llm_cases.py's transcription)
with w = α1·b1 + α2·b2 per group:
  ids [2, 32], planes.<block>.<module>, alpha.<block>.<module>,
  model.loss                 the DAD loss of the student's logits against the teacher's
  model.grad.<block>.<module> d loss / d α by torch.autograd
  model.stepped.<block>.<module> α after one torch.optim.AdamW step (β 0.9/0.999, eps 1e-8, no decay)
                             at lr = 1e-2 x RMS of the linear's initial dual-binary weight
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")
from _plain_llama import block, rms_norm, rope  # noqa: E402
from make_db_llm_cases import GROUP, LINEARS, assign, initial_alpha, per_column  # noqa: E402

LR = 1e-2


def terms(t, s, kind):
    log_pt = torch.log_softmax(t.detach().float(), -1)
    log_ps = torch.log_softmax(s.float(), -1)
    pt = log_pt.exp()
    kl = (pt * (log_pt - log_ps)).sum(-1)
    if kind == "kl":
        return kl, torch.ones_like(kl)
    v = math.log(t.shape[-1])
    ls = log_ps.detach()
    return kl, (-(pt * log_pt).sum(-1) / v) * (-(ls.exp() * ls).sum(-1) / v)


def loss_of(t, s, mask, kind):
    kl, w = terms(t, s, kind)
    m = mask.float()
    return (w * kl * m).sum() / m.sum()


def model_logits(W, cfg, ids, cs):
    x = W["model.embed_tokens.weight"][ids]
    for b in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{b}."
        Wb = {k[len(p):].removesuffix(".weight"): v for k, v in W.items() if k.startswith(p)}
        x = block(Wb, cfg, x, cs)
    return torch.nn.functional.linear(rms_norm(x, W["model.norm.weight"], cfg["rms_norm_eps"]), W["lm_head.weight"])


def decode(planes, alpha):
    b = planes.float()
    return per_column(alpha[0]) * b[0] + per_column(alpha[1]) * b[1]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out_path = sys.argv[1:]
    g = torch.Generator().manual_seed(11)
    cases = {}

    # Fixed logits spanning the entropies.
    V = 50
    t = torch.randn(6, V, generator=g) * torch.tensor([1.0, 0.01, 0.5, 1.0, 2.0, 4.0])[:, None]
    t[0, 3] += 20.0  # a confident teacher
    s = (t + torch.randn(6, V, generator=g)).requires_grad_(True)
    mask = torch.tensor([1, 1, 1, 1, 1, 0], dtype=torch.bool)
    cases.update({"logits.teacher": t, "logits.student": s.detach().clone(), "mask": mask.to(torch.uint8)})
    for kind in ("kl", "dad"):
        kl, w = terms(t, s, kind)
        loss = loss_of(t, s, mask, kind)
        (grad,) = torch.autograd.grad(loss, s)
        cases.update({f"{kind}.kl": kl.detach(), f"{kind}.weight": w.detach(), f"{kind}.loss": loss.detach().reshape(1),
                      f"{kind}.grad": grad})

    # The whole small model: FP teacher, FDB-initialized student.
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    W = {k: v.float() for k, v in st_torch.load_file(os.path.join(model_dir, "model.safetensors")).items()}
    ids = torch.randint(0, cfg["vocab_size"], (2, 32), generator=g)
    cs = rope(cfg, ids.shape[1])
    with torch.no_grad():
        teacher = model_logits(W, cfg, ids, cs)
    Ws, alphas, planes = dict(W), {}, {}
    for b in range(cfg["num_hidden_layers"]):
        for m in LINEARS:
            key = f"model.layers.{b}.{m}.weight"
            a = initial_alpha(W[key]).requires_grad_(True)
            pl = assign(W[key], a.detach())
            alphas[(b, m)], planes[(b, m)] = a, pl
            Ws[key] = decode(pl, a)
            cases[f"planes.{b}.{m}"] = pl
            cases[f"alpha.{b}.{m}"] = a.detach().clone()
    student = model_logits(Ws, cfg, ids, cs)
    V = teacher.shape[-1]
    loss = loss_of(teacher.reshape(-1, V), student.reshape(-1, V), torch.ones(ids.numel(), dtype=torch.bool), "dad")
    loss.backward()
    cases["ids"] = ids
    cases["model.loss"] = loss.detach().reshape(1)
    for (b, m), a in alphas.items():
        cases[f"model.grad.{b}.{m}"] = a.grad.clone()
        rms = decode(planes[(b, m)], a.detach()).pow(2).mean().sqrt().item()
        opt = torch.optim.AdamW([a], lr=LR * rms, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        opt.step()
        cases[f"model.stepped.{b}.{m}"] = a.detach().clone()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    st_torch.save_file({k: v.contiguous() for k, v in cases.items()}, out_path)
    print(f"wrote {out_path}: model DAD loss {loss.item():.6g}")


if __name__ == "__main__":
    main()
