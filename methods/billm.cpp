// BiLLM (METHODS.md §10; Aaronhuang-778/BiLLM: BRAGPTQ.fasterquant, binary.high_order_residual,
// utils/autosearch.structural_searching, utils/mask.generate_structural_mask). Per linear, GPTQ's
// damped U = chol_upper(H⁻¹); then per 128-column block, on the block's weights as the lazy updates
// of the earlier blocks left them:
//  - T = W² / U_jj² (hessian metric; magnitude: T = W);
//  - salient columns: the k columns of largest Σ_rows |T| for the k in 1 .. up_lim − 1 that
//    minimises MSE(T, R2(T; salient) + R2(T; rest)) — the search runs on T, not on W, as the reference's;
//  - the split of the rest: among the 81 quantiles 0.10 : 0.01 : 0.90 of |T| off the salient columns
//    (their zeros included, NumPy's linear interpolation in fp32), the threshold p minimising
//    MSE(T, R1(T; |T| < p) + R1(T; |T| >= p) + R2(T; salient));
//  - the block's weights become R1(W; M1) + R1(W; M2) + R2(W; M3), and each column's error
//    (w − q) / U_jj reaches only the columns after the block (no in-block update: the lazy one).
// R_o(x; M) is o rounds of per-row binarization of the residual over M's entries: μ = mean, α =
// mean |r − μ|, r ← r − (sign(r − μ)·α + μ). Stored as "binary_planes": four planes (M1, M2, M3,
// M3) with an (α, μ) per (row, block) each.
#include "methods/billm.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/error_feedback.h"

namespace lowbit {
namespace {

struct Plane {
  at::Tensor sign;         // [rows, n] i8, 0 off the mask
  at::Tensor alpha, mu;    // [rows]
};

// R_order(x; mask) over x [rows, n]: the sum of `order` binarized residuals (0 off the mask).
// Appends each round's plane to `planes` when given. Same ops as the reference (nanmean over the
// mask's entries: rows without one get μ = α = 0; sign(0) = 0).
at::Tensor residual_binarize(const at::Tensor& x, const at::Tensor& mask, int order, std::vector<Plane>* planes) {
  at::Tensor acc = at::zeros_like(x);
  const at::Tensor xm = x * mask;
  const at::Tensor nan = at::full({}, std::numeric_limits<float>::quiet_NaN(), x.options());
  for (int o = 0; o < order; ++o) {
    at::Tensor r = at::where(mask, xm - acc, nan);  // [rows, n], NaN off the mask
    at::Tensor mu = at::nanmean(r, 1);              // [rows]
    mu = at::where(at::isnan(mu), at::zeros_like(mu), mu);
    r = r - mu.unsqueeze(1);
    at::Tensor alpha = at::nanmean(r.abs(), 1);
    alpha = at::where(at::isnan(alpha), at::zeros_like(alpha), alpha);
    const at::Tensor s = r.sign();  // NaN off the mask -> 0
    acc = acc + (s * alpha.unsqueeze(1) + mu.unsqueeze(1)) * mask;
    if (planes) planes->push_back({s.to(at::kChar), alpha, mu});
  }
  return acc;
}

at::Tensor mse(const at::Tensor& a, const at::Tensor& b) { return (a - b).pow(2).mean(); }

// The first index of the smallest of the candidates' errors (the reference keeps the first strict
// minimum): one host read per search.
int64_t first_minimum(const std::vector<at::Tensor>& errors) { return at::stack(errors).argmin().item<int64_t>(); }

// np.quantile(x, q) (method "linear") for fp32 x and q as NumPy 1.24.3 computes it -- the version
// BiLLM's requirements.txt pins (NumPy 2 computes in fp32 and differs in the last bits): the
// virtual index v = (n − 1)·q in fp32 while n − 1 fits in uint16 (value-based casting), in float64
// beyond; t = v − floor v, a = x_(floor v), b = x_(floor v + 1); then in float64 a + (b − a)·t, or
// b − (b − a)·(1 − t) where t >= 0.5, with b − a in fp32. The result is rounded to fp32, as the
// reference's comparison with an fp32 tensor rounds it. q [m] fp32 on the CPU -> [m] fp32 on the CPU.
at::Tensor numpy124_quantiles(const at::Tensor& x, const at::Tensor& q) {
  const at::Tensor sorted = std::get<0>(at::sort(x.flatten()));  // [n]
  const int64_t n1 = sorted.numel() - 1;
  const at::Tensor v = n1 <= 65535 ? (q * static_cast<double>(n1)).to(at::kDouble)  // an fp32 product
                                   : q.to(at::kDouble) * static_cast<double>(n1);
  const at::Tensor lower = at::floor(v), t = v - lower;  // float64
  const at::Tensor i = lower.to(at::kLong).clamp(0, n1);
  const at::Tensor ab = sorted.index_select(0, at::cat({i, (i + 1).clamp_max(n1)}).to(x.device())).cpu();
  const at::Tensor a = ab.narrow(0, 0, q.numel()), b = ab.narrow(0, q.numel(), q.numel());  // fp32
  const at::Tensor d = (b - a).to(at::kDouble);
  const at::Tensor a64 = a.to(at::kDouble), b64 = b.to(at::kDouble);
  return at::where(t >= 0.5, b64 - d * (1 - t), a64 + d * t).to(at::kFloat);
}

class StructuralBinarizer : public ArtifactColumnQuantizer {
 public:
  StructuralBinarizer(const BillmOptions& o, BillmDecisions* decisions) : o_(o), decisions_(decisions) {}

  void prepare(const at::Tensor&, const at::Tensor& w, const at::Tensor&, const at::Tensor& u) override {
    const int64_t rows = w.size(0), cols = w.size(1), blocks = (cols + o_.block_size - 1) / o_.block_size;
    pivot_ = u.diagonal();  // [cols] U_jj
    mask_ = at::zeros({4, rows, cols}, w.options().dtype(at::kByte));
    sign_ = at::zeros({4, rows, cols}, w.options().dtype(at::kChar));
    alpha_ = at::zeros({4, rows, blocks}, w.options());
    mu_ = at::zeros({4, rows, blocks}, w.options());
    quantiles_ = at::linspace(0.10, 0.90, 81, at::TensorOptions().dtype(at::kFloat));  // on the CPU, as the reference
  }

  void begin_block(const at::Tensor& w, int64_t i1, int64_t i2) override {
    const int64_t n = i2 - i1, b = i1 / o_.block_size;
    const at::Tensor wb = w.narrow(1, i1, n);  // [rows, n]
    const at::Tensor t = o_.hessian_saliency ? wb.pow(2) / pivot_.narrow(0, i1, n).view({1, -1}).pow(2) : wb;

    // The salient-column count: k = 1 .. up_lim - 1 of the columns by Σ_rows |T|.
    const at::Tensor counts = t.abs().sum(0);  // [n]
    const at::Tensor top = std::get<1>(at::topk(counts, o_.salient_up_lim));
    std::vector<at::Tensor> errors;
    for (int64_t k = 1; k < o_.salient_up_lim; ++k) {
      const at::Tensor m3 = column_mask(t, top.narrow(0, 0, k));
      errors.push_back(mse(t, residual_binarize(t, m3.logical_not(), 2, nullptr) + residual_binarize(t, m3, 2, nullptr)));
    }
    const int64_t salient = first_minimum(errors) + 1;
    const at::Tensor m3 = column_mask(t, std::get<1>(at::topk(counts, salient)));
    const at::Tensor rest = m3.logical_not();
    const at::Tensor g3 = residual_binarize(t, m3, 2, nullptr);

    // The split of the rest at one of 81 quantiles of |T| off the salient columns.
    const at::Tensor magnitude = (t * rest).abs();                              // [rows, n]
    const at::Tensor borders = numpy124_quantiles(magnitude, quantiles_);          // [81] CPU
    const at::Tensor borders_dev = borders.to(t.device());
    errors.clear();
    for (int64_t p = 0; p < borders.numel(); ++p) {
      const at::Tensor border = borders_dev.select(0, p);
      const at::Tensor m1 = (magnitude < border).logical_and(rest), m2 = (magnitude >= border).logical_and(rest);
      errors.push_back(mse(t, residual_binarize(t, m1, 1, nullptr) + residual_binarize(t, m2, 1, nullptr) + g3));
    }
    const int64_t chosen = first_minimum(errors);
    const at::Tensor border = borders_dev.select(0, chosen);
    const at::Tensor m1 = (magnitude < border).logical_and(rest), m2 = (magnitude >= border).logical_and(rest);
    if (decisions_) {
      decisions_->salient_columns.push_back(salient);
      decisions_->split.push_back(borders[chosen].item<float>());
    }

    // The block's weights: R1(W; M1) + R1(W; M2) + R2(W; M3), four planes.
    std::vector<Plane> planes;
    const at::Tensor masks[] = {m1, m2, m3, m3};
    at::Tensor q = at::zeros_like(wb);
    q = q + residual_binarize(wb, m1, 1, &planes) * m1;
    q = q + residual_binarize(wb, m2, 1, &planes) * m2;
    q = q + residual_binarize(wb, m3, 2, &planes) * m3;
    for (int64_t k = 0; k < 4; ++k) {
      mask_[k].narrow(1, i1, n).copy_(masks[k]);
      sign_[k].narrow(1, i1, n).copy_(planes[k].sign);
      alpha_[k].select(1, b).copy_(planes[k].alpha);
      mu_[k].select(1, b).copy_(planes[k].mu);
    }
    block_q_ = q;
    i1_ = i1;
  }

  void quantize_column(const at::Tensor&, int64_t c, at::Tensor& out) override { out.copy_(block_q_.select(1, c - i1_)); }

  QuantizedLinear artifact(const std::string& where) const override {
    const int64_t cols = mask_.size(2);
    QuantizedLinear q;
    q.format = "binary_planes";
    q.bits = 1;
    q.group_size = o_.block_size;
    q.tensors = {{"planes.mask", mask_},
                 {"planes.sign", sign_},
                 {"planes.alpha", alpha_},
                 {"planes.mu", mu_},
                 {"g_idx", at::div(at::arange(cols, mask_.options().dtype(at::kInt)), o_.block_size, "floor")}};
    finish_artifact(q, where);
    return q;
  }

 private:
  // [rows, n] true on the given columns.
  static at::Tensor column_mask(const at::Tensor& t, const at::Tensor& columns) {
    return at::zeros(t.sizes(), t.options().dtype(at::kBool)).index_fill_(1, columns, true);
  }

  BillmOptions o_;
  BillmDecisions* decisions_;
  at::Tensor pivot_, quantiles_;
  at::Tensor mask_, sign_;    // [4, rows, cols]
  at::Tensor alpha_, mu_;     // [4, rows, blocks]
  at::Tensor block_q_;        // [rows, n] the current block's quantized weights
  int64_t i1_ = 0;
};

class Billm : public PerLinearHessianMethod {
 public:
  explicit Billm(BillmOptions o) : o_(o) {}
  void check_model(const LlamaConfig& c, const std::string& where) const override {
    for (const BlockLinear& l : block_linears()) {
      const int64_t in = linear_input_size(c, l.input);
      LOWBIT_CHECK(in % o_.block_size == 0, where, ": BiLLM searches whole blocks of method.blocksize ", o_.block_size,
                   " columns, which do not divide ", l.module, "'s ", in, " inputs");
    }
  }
  QuantizedLinear quantize_linear(const at::Tensor& w, const at::Tensor& h, const std::string& module) const override {
    return billm_quantize(w, h, o_, "billm: " + module);
  }

 private:
  BillmOptions o_;
};

}  // namespace

QuantizedLinear billm_quantize(const at::Tensor& w, const at::Tensor& h, const BillmOptions& o, const std::string& where,
                               BillmDecisions* decisions) {
  LOWBIT_CHECK(w.dim() == 2 && w.size(1) % o.block_size == 0, where, ": BiLLM needs whole blocks of ", o.block_size,
               " columns; the weight is ", w.sizes());
  LOWBIT_CHECK(o.salient_up_lim >= 2 && o.salient_up_lim <= o.block_size, where, ": up_lim must be in [2, ",
               o.block_size, "], got ", o.salient_up_lim);
  StructuralBinarizer q(o, decisions);
  // The reference never updates inside a block: only the lazy update after it.
  return error_feedback_artifact(w, h, q, reference_loop(o.percdamp, o.block_size, /*intra_block_updates=*/false), where);
}

void register_billm(MethodRegistry& r) {
  r.add({"billm",
         "BiLLM: residual binarization of searched salient columns, split binarization of the rest, GPTQ's lazy "
         "error feedback",
         "bits (a label: the paper's 1.1), group_size (= blocksize), blocksize (128), up_lim (50), "
         "salient_metric (hessian | magnitude), damp (0.01)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           BillmOptions o;
           const bool has_bits = p.has("bits"), has_group = p.has("group_size");
           const double bits = has_bits ? p.get<double>("bits") : 1.1;
           const int64_t group = has_group ? p.get<int64_t>("group_size") : 0;
           o.block_size = p.get<int64_t>("blocksize", 128);
           o.salient_up_lim = p.get<int64_t>("up_lim", 50);
           const std::string metric = p.get<std::string>("salient_metric", "hessian");
           o.percdamp = p.get<double>("damp", 0.01);
           p.finish();
           LOWBIT_CHECK(std::fabs(bits - 1.1) < 1e-9, p.file(), ": method.bits is ", bits,
                        " but BiLLM has no bit width to set: its structure gives the paper's 1.1 (leave bits out "
                        "or write 1.1)");
           LOWBIT_CHECK(o.block_size >= 2 && o.percdamp >= 0, p.file(), ": method.blocksize >= 2 and method.damp >= 0");
           LOWBIT_CHECK(!has_group || group == o.block_size, p.file(), ": method.group_size ", group,
                        " must equal method.blocksize ", o.block_size, " (BiLLM's (alpha, mu) are per block)");
           LOWBIT_CHECK(o.salient_up_lim >= 2 && o.salient_up_lim <= o.block_size, p.file(), ": method.up_lim must be in [2, ",
                        o.block_size, "], got ", o.salient_up_lim);
           LOWBIT_CHECK(metric == "hessian" || metric == "magnitude", p.file(),
                        ": method.salient_metric must be hessian or magnitude, got '", metric, "'");
           o.hessian_saliency = metric == "hessian";
           return std::make_unique<Billm>(o);
         }});
}

}  // namespace lowbit
