#include "methods/smoothquant.h"

#include <ATen/ATen.h>

#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {

at::Tensor smoothing_factors(const at::Tensor& act_max, const std::vector<at::Tensor>& weights, double alpha) {
  std::vector<at::Tensor> col_max;  // [1, in] each
  for (const at::Tensor& w : weights) col_max.push_back(w.abs().amax(0, /*keepdim=*/true));
  const at::Tensor w_max = std::get<0>(at::cat(col_max, 0).max(0)).clamp_min(1e-5);  // [in]
  return (act_max.to(w_max.scalar_type()).pow(alpha) / w_max.pow(1 - alpha)).clamp_min(1e-5);
}

namespace {

class SmoothQuant : public Method {
 public:
  explicit SmoothQuant(SmoothQuantOptions o) : opt_(o) {}
  MethodNeeds needs() const override {
    MethodNeeds n;
    if (opt_.smooth) n.statistics = {Statistic::AbsMax};
    n.propagation = "full_precision";
    n.propagation_reason =
        "SmoothQuant's activation scales come from the full-precision model (smoothquant's get_act_scales runs the "
        "original model over the calibration set)";
    return n;
  }
  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override {
    LOWBIT_ASSERT(which.is_all(), "smoothquant quantizes whole blocks (it declares no true_sequential)");
    BlockWeights w = convert_block(ctx.weights(), at::kFloat, ctx.inputs().device());
    QuantizedBlock out;
    if (opt_.smooth) {
      const at::Tensor s_attn = smoothing_factors(ctx.statistics().get(Statistic::AbsMax, LinearInput::Attention),
                                                  {w.q, w.k, w.v}, opt_.alpha);  // [hidden]
      const at::Tensor s_mlp = smoothing_factors(ctx.statistics().get(Statistic::AbsMax, LinearInput::Mlp),
                                                 {w.gate, w.up}, opt_.alpha);    // [hidden]
      w.input_norm = w.input_norm / s_attn;
      for (at::Tensor* t : {&w.q, &w.k, &w.v}) *t = *t * s_attn.view({1, -1});
      w.post_norm = w.post_norm / s_mlp;
      for (at::Tensor* t : {&w.gate, &w.up}) *t = *t * s_mlp.view({1, -1});
      out.parameters["input_layernorm.weight"] = w.input_norm;
      out.parameters["post_attention_layernorm.weight"] = w.post_norm;
    }
    UniformQuantSpec spec;
    spec.bits = opt_.bits;
    spec.group_size = 0;  // per output channel
    spec.rule = GridRule::AbsMax;
    for (const BlockLinear& l : block_linears())
      out.linears.emplace(l.module, round_to_nearest_linear(w.*l.weight, spec, std::string("smoothquant: ") + l.module));
    out.activations.bits = opt_.act_bits;
    out.activations.granularity = "per_token";
    out.activations.symmetric = true;
    out.activations.quantize_qkv_outputs = opt_.quantize_bmm_input && opt_.act_bits < 16;
    return out;
  }

 private:
  SmoothQuantOptions opt_;
};

}  // namespace

void register_smoothquant(MethodRegistry& r) {
  r.add({"smoothquant",
         "SmoothQuant: activation outliers migrated into the weights at the two norm junctions, per-channel "
         "symmetric weights, dynamic per-token activations (full-precision propagation)",
         "bits (8), a_bits (8; 16 = weights only), group_size (0: per output channel, the only choice), alpha (0.85), "
         "quantize_bmm_input (true), smooth (true)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           SmoothQuantOptions o;
           o.bits = p.get<int>("bits", 8);
           o.act_bits = p.get<int>("a_bits", 8);
           const int64_t group_size = p.get<int64_t>("group_size", 0);
           o.alpha = p.get<double>("alpha", 0.85);
           o.quantize_bmm_input = p.get<bool>("quantize_bmm_input", true);
           o.smooth = p.get<bool>("smooth", true);
           p.finish();
           LOWBIT_CHECK(o.bits >= 2 && o.bits <= 8, p.file(), ": method.bits must be in [2, 8] for smoothquant, got ",
                        o.bits);
           LOWBIT_CHECK(o.act_bits >= 2 && o.act_bits <= 16, p.file(),
                        ": method.a_bits must be in [2, 16] (16 = activations not quantized), got ", o.act_bits);
           LOWBIT_CHECK(group_size == 0, p.file(), ": method.group_size must be 0 for smoothquant (weights are quantized "
                        "per output channel, as the reference does), got ", group_size);
           LOWBIT_CHECK(o.alpha >= 0 && o.alpha <= 1, p.file(), ": method.alpha must be in [0, 1], got ", o.alpha);
           return std::make_unique<SmoothQuant>(o);
         }});
}

}  // namespace lowbit
