// PB-LLM (METHODS.md §9; hahnyuan/PB-LLM gptq_pb: LowHighGPT.fasterquant, LowQuantizer "xnor",
// HighQuantizer): partial binarization inside GPTQ's error-feedback loop. Per linear:
//  - the high-precision quantizer: `high_bit` asymmetric per output row, fitted once on W as given
//    (before dead inputs are zeroed), GPTQ's min-max convention;
//  - per group of `group_size` columns, on the original W: saliency W² / U_jj² ("hessian") or |W|
//    ("magnitude"); the binarized mask M = saliency <= the floor(numel · low_frac)-th smallest value
//    of the group; the xnor binarizer per row: μ = mean over the group of W ⊙ M, α = mean of
//    |W ⊙ M − μ| (salient entries count as 0 in both), fixed from then on;
//  - GPTQ's column loop (intra-block and lazy updates, blocks of 128): a binarized entry becomes
//    sign(w − μ) · α + μ, a salient one its high_bit code.
// Stored as "binary_planes" (one plane: M, the signs, α/μ per (row, group)) with the salient part.
#include <ATen/ATen.h>

#include <cmath>

#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/error_feedback.h"
#include "methods/common/uniform_quantizer.h"
#include "methods/method.h"
#include "methods/pb_llm.h"

namespace lowbit {
namespace {

// The quantizer of one linear in the shared column loop.
class PartialBinarizer : public ArtifactColumnQuantizer {
 public:
  explicit PartialBinarizer(const PbLlmOptions& o) : o_(o) {}

  void before_dead_columns(const at::Tensor& w) override { high_ = minmax_grid(w, o_.high_bit, false); }

  void prepare(const at::Tensor&, const at::Tensor& w, const at::Tensor&, const at::Tensor& u) override {
    const int64_t rows = w.size(0), cols = w.size(1), g = o_.group_size > 0 ? o_.group_size : cols;
    const int64_t groups = cols / g;
    mask_ = at::empty({rows, cols}, w.options().dtype(at::kBool));
    mu_ = at::empty({rows, groups}, w.options());
    alpha_ = at::empty({rows, groups}, w.options());
    const at::Tensor pivot = u.diagonal();  // [cols] U_jj
    for (int64_t k = 0; k < groups; ++k) {
      const at::Tensor wg = w.narrow(1, k * g, g);  // [rows, g]
      const at::Tensor s = o_.hessian_saliency ? wg.pow(2) / pivot.narrow(0, k * g, g).view({1, -1}).pow(2) : wg.abs();
      const int64_t at_index = static_cast<int64_t>(static_cast<double>(s.numel()) * o_.low_frac);
      const at::Tensor thresh = std::get<0>(at::sort(s.flatten())).select(0, at_index);  // a 0-dim tensor
      const at::Tensor m = s <= thresh;
      mask_.narrow(1, k * g, g).copy_(m);
      const at::Tensor wm = wg * m;                                     // salient entries as 0
      const at::Tensor mean = wm.mean(-1, /*keepdim=*/true);            // [rows, 1]
      mu_.narrow(1, k, 1).copy_(mean);
      alpha_.narrow(1, k, 1).copy_((wm - mean).abs().mean(-1, true));
    }
    sign_ = at::zeros({rows, cols}, w.options().dtype(at::kChar));
    codes_ = at::zeros({rows, cols}, w.options().dtype(at::kByte));
    g_ = g;
  }

  void quantize_column(const at::Tensor& w, int64_t c, at::Tensor& out) override {
    const int64_t k = c / g_;
    const at::Tensor mu = mu_.select(1, k), alpha = alpha_.select(1, k), m = mask_.select(1, c);  // [rows]
    const at::Tensor sign = (w - mu).sign();
    const at::Tensor low = sign * alpha + mu;                                                     // xnor
    const at::Tensor code = quantize_codes(w.unsqueeze(1), high_).squeeze(1);                   // high_bit code
    const at::Tensor high = dequantize_codes(code.unsqueeze(1), high_).squeeze(1);
    out.copy_(at::where(m, low, high));
    sign_.select(1, c).copy_(at::where(m, sign, at::zeros_like(sign)));
    codes_.select(1, c).copy_(at::where(m, at::zeros_like(code), code));
  }

  QuantizedLinear artifact(const std::string& where) const override {
    const int64_t cols = mask_.size(1);
    QuantizedLinear q;
    q.format = "binary_planes";
    q.bits = o_.high_bit;
    q.group_size = o_.group_size;
    q.tensors = {{"planes.mask", mask_.to(at::kByte).unsqueeze(0)},
                 {"planes.sign", sign_.unsqueeze(0)},
                 {"planes.alpha", alpha_.unsqueeze(0)},
                 {"planes.mu", mu_.unsqueeze(0)},
                 {"g_idx", at::div(at::arange(cols, mask_.options().dtype(at::kInt)), g_, "floor")},
                 {"salient.codes", codes_},
                 {"salient.scale", high_.scale},
                 {"salient.zero", high_.zero}};
    finish_artifact(q, where);
    return q;
  }

 private:
  PbLlmOptions o_;
  QuantGrid high_;                       // [rows, 1]
  at::Tensor mask_, sign_, codes_;       // [rows, cols]
  at::Tensor mu_, alpha_;                // [rows, groups]
  int64_t g_ = 0;
};

class PbLlm : public PerLinearHessianMethod {
 public:
  explicit PbLlm(PbLlmOptions o) : o_(o) {}
  void check_model(const LlamaConfig& c, const std::string& where) const override {
    check_group_size_divides(o_.group_size, c, where);
  }
  QuantizedLinear quantize_linear(const at::Tensor& w, const at::Tensor& h, const std::string& module) const override {
    return pb_llm_quantize(w, h, o_, "pb-llm: " + module);
  }

 private:
  PbLlmOptions o_;
};

}  // namespace

QuantizedLinear pb_llm_quantize(const at::Tensor& w, const at::Tensor& h, const PbLlmOptions& o, const std::string& where) {
  PartialBinarizer q(o);
  return error_feedback_artifact(w, h, q, reference_loop(o.percdamp, o.block_size), where);
}

void register_pb_llm(MethodRegistry& r) {
  r.add({"pb-llm",
         "PB-LLM: partial binarization (xnor binarizer, salient weights at high_bit) in GPTQ's error-feedback loop",
         "low_frac (0.9), bits (derived: low_frac = (high_bit - bits) / (high_bit - 1); 1.7 <=> 0.9), high_bit (8), "
         "salient_metric (hessian | magnitude), group_size (128; 0 = whole row), blocksize (128), damp (0.01)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           PbLlmOptions o;
           o.high_bit = p.get<int>("high_bit", 8);
           const bool has_frac = p.has("low_frac"), has_bits = p.has("bits");
           if (has_frac) o.low_frac = p.get<double>("low_frac");
           double bits = 0;
           if (has_bits) bits = p.get<double>("bits");
           const std::string metric = p.get<std::string>("salient_metric", "hessian");
           o.group_size = p.get<int64_t>("group_size", 128);
           o.block_size = p.get<int64_t>("blocksize", 128);
           o.percdamp = p.get<double>("damp", 0.01);
           p.finish();
           LOWBIT_CHECK(o.high_bit >= 2 && o.high_bit <= 8, p.file(), ": method.high_bit must be in [2, 8], got ",
                        o.high_bit);
           if (has_bits) {
             LOWBIT_CHECK(bits >= 1 && bits < o.high_bit, p.file(), ": method.bits must be in [1, high_bit), got ", bits);
             const double frac = (o.high_bit - bits) / (o.high_bit - 1);
             LOWBIT_CHECK(!has_frac || std::fabs(frac - o.low_frac) < 1e-9, p.file(), ": method.bits ", bits,
                          " means low_frac ", frac, " with high_bit ", o.high_bit, ", but method.low_frac is ",
                          o.low_frac, "; give one of them");
             o.low_frac = frac;
           }
           LOWBIT_CHECK(o.low_frac > 0 && o.low_frac < 1, p.file(), ": method.low_frac must be in (0, 1), got ",
                        o.low_frac);
           LOWBIT_CHECK(metric == "hessian" || metric == "magnitude", p.file(),
                        ": method.salient_metric must be hessian or magnitude, got '", metric, "'");
           o.hessian_saliency = metric == "hessian";
           LOWBIT_CHECK(o.group_size >= 0 && o.block_size >= 1 && o.percdamp >= 0, p.file(),
                        ": method.group_size >= 0, method.blocksize >= 1 and method.damp >= 0");
           LOWBIT_CHECK(o.group_size == 0 || o.group_size % o.block_size == 0, p.file(), ": method.group_size ",
                        o.group_size, " must be a multiple of method.blocksize ", o.block_size,
                        " (the reference asserts it)");
           return std::make_unique<PbLlm>(o);
         }});
}

}  // namespace lowbit
