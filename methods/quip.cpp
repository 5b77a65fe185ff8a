// QuIP, step by step as the reference runs it (method.py preproc / postproc, vector_balance.py
// quantize_weight_vecbal with qfn 'b' and round_ldl_block). The reference keeps each layer's weight
// in float16 (llama.py loads the model in fp16) and writes it back after every step; lowbit rounds
// where it stores -- the input weight, after the rescale, after the projection, the quantized
// weight, and twice in the post-processing (the "incoherent" format's decode) -- so the fake-quant
// weights are the study's. The orthogonal products are taken in float64 through the butterfly
// structure and rounded once (the reference: dense fp32 products), the Hessian in fp32.
#include "methods/quip.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "methods/common/incoherent_format.h"
#include "methods/common/seeded_stream.h"

namespace lowbit {

std::pair<Butterfly, Butterfly> quip_transforms(uint64_t seed, int64_t block, const std::string& module, int64_t out,
                                                int64_t in) {
  SeededStream stream(seed, block, module);
  Butterfly u = make_butterfly(out, stream);
  Butterfly v = make_butterfly(in, stream);
  return {std::move(u), std::move(v)};
}

at::Tensor quip_ldlq(const at::Tensor& w, const at::Tensor& h, int bits, int64_t blocksize, int npasses,
                     const std::string& where) {
  const int64_t d = w.size(1);
  const double maxq = static_cast<double>((1 << bits) - 1);
  auto [L, info] = at::linalg_cholesky_ex(h);  // [d, d] lower
  LOWBIT_CHECK(info.item<int64_t>() == 0, where, ": QuIP's Hessian is not positive definite after pre-processing "
               "(Cholesky failed at column ", info.item<int64_t>(), ")");
  // L · diag(1 / diag L) − I: unit lower triangular minus I. (The broadcast product is the
  // reference's matrix product with a diagonal, value for value.)
  L = L * L.diagonal().reciprocal().unsqueeze(0);
  L.diagonal().sub_(1);
  at::Tensor w_hat = w.clone();  // [m, d]: columns not yet rounded hold w, so w − w_hat is 0 there
  // Right to left in batches: within a batch each column from the batch's later columns, the
  // batches to its right through their fixed difference W2Hdiff. Same ops, same order as the
  // reference: floor(w_i + (W1 − Ŵ1) · L1[i1:i2, i] + W2Hdiff · L1[i2:, i] + 0.5), clamped.
  for (int64_t i2 = d; i2 > 0; i2 -= blocksize) {
    const int64_t i1 = std::max<int64_t>(i2 - blocksize, 0), count = i2 - i1;
    const at::Tensor W1 = w.narrow(1, i1, count);                                       // [m, count]
    const at::Tensor W2Hdiff = w.narrow(1, i2, d - i2) - w_hat.narrow(1, i2, d - i2);   // [m, d − i2]
    at::Tensor WHat1 = w_hat.narrow(1, i1, count).clone();
    const at::Tensor L1 = L.narrow(1, i1, count);                                        // [d, count]
    for (int64_t i = count - 1; i >= 0; --i) {
      const at::Tensor own = at::matmul(W1 - WHat1, L1.narrow(0, i1, count).select(1, i));
      const at::Tensor right = at::matmul(W2Hdiff, L1.narrow(0, i2, d - i2).select(1, i));
      WHat1.select(1, i).copy_(at::clamp(at::floor(W1.select(1, i) + own + right + 0.5), 0, maxq));
    }
    w_hat.narrow(1, i1, count).copy_(WHat1);
  }
  if (npasses == 0) return w_hat;
  // Greedy passes (the reference's, after LDLQ): with the residual s = ŵ − w and H over its largest
  // diagonal entry, each column moves to round(ŵ_i − (s · H[:, i]) / H_ii); the batches right to
  // left; clamped after each pass (s keeps the unclamped values, as the reference's); a pass that
  // changes nothing ends them.
  at::Tensor wr = w_hat.clone(), s = w_hat - w;
  const at::Tensor Hn = h / h.diagonal().max();
  for (int pass = 0; pass < npasses; ++pass) {
    for (int64_t i2 = d; i2 > 0; i2 -= blocksize) {
      const int64_t i1 = std::max<int64_t>(i2 - blocksize, 0), count = i2 - i1;
      at::Tensor W1 = wr.narrow(1, i1, count).clone(), S1 = s.narrow(1, i1, count).clone();
      const at::Tensor S0 = s.narrow(1, 0, i1), S2 = s.narrow(1, i2, d - i2);
      const at::Tensor H0 = Hn.narrow(0, 0, i1).narrow(1, i1, count), H1 = Hn.narrow(0, i1, count).narrow(1, i1, count),
                       H2 = Hn.narrow(0, i2, d - i2).narrow(1, i1, count);
      for (int64_t i = count - 1; i >= 0; --i) {
        const at::Tensor Hs =
            at::matmul(S0, H0.select(1, i)) + at::matmul(S1, H1.select(1, i)) + at::matmul(S2, H2.select(1, i));
        const at::Tensor eps = W1.select(1, i) - at::round(W1.select(1, i) - Hs / H1[i][i]);
        W1.select(1, i).sub_(eps);
        S1.select(1, i).sub_(eps);
      }
      wr.narrow(1, i1, count).copy_(W1);
      s.narrow(1, i1, count).copy_(S1);
    }
    wr = at::clamp(wr, 0, maxq);
    if (at::equal(w_hat, wr)) break;
    w_hat.copy_(wr);
  }
  return wr;
}

QuantizedLinear quip_quantize_linear(const at::Tensor& w_in, const at::Tensor& h_in, const Butterfly& u,
                                     const Butterfly& v, const QuipOptions& o, const std::string& where) {
  const int64_t out = w_in.size(0), in = w_in.size(1);
  LOWBIT_CHECK(h_in.sizes() == at::IntArrayRef({in, in}) && u.n == out && v.n == in, where, ": weight ", w_in.sizes(),
               ", Hessian ", h_in.sizes(), ", transforms ", u.n, " and ", v.n, " do not fit together");
  at::Tensor w = w_in.to(at::kHalf);  // [out, in]: the reference's fp16 layer weight
  LOWBIT_CHECK(w.isfinite().all().item<bool>(), where, ": the weight does not fit in float16 (QuIP's reference "
               "keeps it there)");
  at::Tensor H = h_in.to(at::kFloat);  // [in, in]

  // 1. Rescale: s = (diag H / diag WᵀW)^¼ balances the columns' weight and input magnitudes.
  H = H / H.abs().max();
  const at::Tensor wf = w.to(at::kFloat);
  const at::Tensor diag_w2 = wf.to(at::kDouble).square().sum(0).to(at::kFloat).clamp_min(1e-8);  // diag(WᵀW) [in]
  const at::Tensor s = (H.diagonal().clamp_min(1e-8) / diag_w2).sqrt().sqrt().clamp_min(1e-8);   // [in] fp32
  w = (wf * s.unsqueeze(0)).to(at::kHalf);
  H = H / s.unsqueeze(0);
  H = H / s.unsqueeze(1);

  // 2. Projection: H normalised to trace n, + 0.01·I; W <- U W Vᵀ, H <- V H Vᵀ.
  // (Python's n / t is t.reciprocal() * n: the same two roundings here.)
  H = H * ((at::trace(H) + 1e-8).reciprocal() * static_cast<double>(in));
  H.diagonal().add_(1e-2);
  w = butterfly_sandwich(u, w, v, /*inverse=*/false).to(at::kFloat).to(at::kHalf);
  H = butterfly_sandwich(v, H, v, /*inverse=*/false).to(at::kFloat);

  // 3. GPTQ's Hessian fix: dead inputs (none after + 0.01·I, kept for fidelity) and damping.
  const at::Tensor dead = H.diagonal() == 0;
  if (dead.any().item<bool>()) {
    H.diagonal().masked_fill_(dead, 1);
    w.masked_fill_(dead.unsqueeze(0), 0);
  }
  H.diagonal().add_(H.diagonal().mean() * o.percdamp);

  // 4. The "b" quantizer, in the reference's fp16 arithmetic: σ = 2.4·RMS(W), targets
  // ((W/σ + 1)/2)·maxq clamped to [0, maxq]; then LDLQ in fp32.
  const double maxq = static_cast<double>((1 << o.bits) - 1);
  const at::Tensor sigma = w.square().mean().sqrt() * 2.4 + 1e-16;  // fp16, 0-dim
  LOWBIT_CHECK(sigma.item<double>() > 0, where, ": the weight is zero after pre-processing (QuIP's scale 2.4·RMS(W) "
               "would be 0)");
  const at::Tensor targets = at::clamp((w / sigma + 1) / 2 * maxq, 0, maxq);  // [out, in] fp16
  const at::Tensor codes = quip_ldlq(targets.to(at::kFloat), H, o.bits, o.blocksize, o.npasses, where);

  // 5. The artifact; its decode is the reference's post-processing (incoherent_format.h).
  return incoherent_linear(codes.to(at::kByte), sigma.to(at::kFloat).reshape({1}), s, u, v, o.bits, where);
}

namespace {

class Quip : public Method {
 public:
  explicit Quip(QuipOptions o) : o_(o) {}

  MethodNeeds needs() const override {
    MethodNeeds n;
    n.statistics = {Statistic::HessianF64};
    return n;
  }

  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override {
    QuantizedBlock out;
    for (const BlockLinear& l : block_linears()) {
      if (!which.contains(l)) continue;
      const at::Tensor& w = ctx.weights().*l.weight;  // [out, in]
      const auto [u, v] = quip_transforms(o_.seed, ctx.index(), l.module, w.size(0), w.size(1));
      out.linears.emplace(l.module, quip_quantize_linear(w, ctx.statistics().get(Statistic::HessianF64, l.input), u, v,
                                                         o_, fmt::format("block {}: {}", ctx.index(), l.module)));
    }
    return out;
  }

 private:
  QuipOptions o_;
};

}  // namespace

void register_quip(MethodRegistry& r) {
  r.add({"quip",
         "QuIP: incoherence processing (rescale, random butterfly orthogonals from (seed, block, module)) and LDLQ "
         "with one scale per matrix",
         "bits (2), group_size (0 only: one scale per matrix), npasses (0), blocksize (128), damp (0.01), seed (0)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           QuipOptions o;
           o.bits = p.get<int>("bits", 2);
           const int64_t group = p.get<int64_t>("group_size", 0);
           o.npasses = p.get<int>("npasses", 0);
           o.blocksize = p.get<int64_t>("blocksize", 128);
           o.percdamp = p.get<double>("damp", 0.01);
           const int64_t seed = p.get<int64_t>("seed", 0);
           p.finish();
           LOWBIT_CHECK(o.bits >= 2 && o.bits <= 8, p.file(), ": method.bits must be 2..8 for QuIP, got ", o.bits);
           LOWBIT_CHECK(group == 0, p.file(), ": method.group_size is ", group,
                        " but QuIP has one scale per matrix (write 0 or leave it out)");
           LOWBIT_CHECK(o.npasses >= 0 && o.blocksize >= 1 && o.percdamp >= 0, p.file(),
                        ": method.npasses >= 0, method.blocksize >= 1 and method.damp >= 0");
           LOWBIT_CHECK(seed >= 0, p.file(), ": method.seed must be >= 0, got ", seed);
           o.seed = static_cast<uint64_t>(seed);
           return std::make_unique<Quip>(o);
         }});
}

}  // namespace lowbit
