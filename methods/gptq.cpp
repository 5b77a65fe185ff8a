// GPTQ (METHODS.md §5): each linear's columns quantized in turn with optimal-brain-surgeon error
// updates weighted by the input Hessian (methods/common/gptq_solver). Needs the Hessian of each
// distinct linear input; with true_sequential the driver regathers it after each linear group.
#include <ATen/ATen.h>

#include "framework/config/yaml_reader.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/gptq_solver.h"
#include "methods/method.h"

namespace lowbit {
namespace {

class Gptq : public PerLinearHessianMethod {
 public:
  Gptq(GptqOptions opt, bool true_sequential) : opt_(opt), true_sequential_(true_sequential) {}
  void check_model(const LlamaConfig& c, const std::string& where) const override {
    check_group_size_divides(opt_.quant.group_size, c, where);
  }
  MethodNeeds needs() const override {
    MethodNeeds n = PerLinearHessianMethod::needs();
    n.true_sequential = true_sequential_;
    return n;
  }

  QuantizedLinear quantize_linear(const at::Tensor& w, const at::Tensor& h, const std::string& module) const override {
    GptqResult r = gptq_quantize(w, h, opt_);
    // The artifact is decoded through the format registry, as a resumed block is (the solver's own
    // dequantized columns are the same numbers: scale * (q - zero)).
    QuantizedLinear q = uniform_linear(r.codes, r.scale, r.zero, r.g_idx, opt_.quant.bits, opt_.quant.group_size,
                                       opt_.quant.symmetric, "gptq: " + module);
    q.loss = r.losses.sum().item<double>();
    return q;
  }

 private:
  GptqOptions opt_;
  bool true_sequential_;
};

}  // namespace

void register_gptq(MethodRegistry& r) {
  r.add({"gptq", "GPTQ: column-wise quantization with Hessian-weighted error feedback",
         "bits (4), group_size (128; 0 = per channel), sym (false), damp (0.01), blocksize (128), act_order (false), "
         "static_groups (false), true_sequential (false), factorization (reversed: U = J chol(J H J)^-1 J; "
         "reference: the reference code's three factorisations, bit for bit)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           GptqOptions o;
           o.quant.bits = p.get<int>("bits", 4);
           o.quant.group_size = p.get<int64_t>("group_size", 128);
           o.quant.symmetric = p.get<bool>("sym", false);
           o.percdamp = p.get<double>("damp", 0.01);
           o.block_size = p.get<int64_t>("blocksize", 128);
           o.act_order = p.get<bool>("act_order", false);
           o.static_groups = p.get<bool>("static_groups", false);
           const bool true_sequential = p.get<bool>("true_sequential", false);
           const std::string factorization = p.get<std::string>("factorization", "reversed");
           LOWBIT_CHECK(factorization == "reversed" || factorization == "reference", p.file(),
                        ": method.factorization must be 'reversed' or 'reference', got '", factorization, "'");
           o.factorization =
               factorization == "reversed" ? GptqFactorization::Reversed : GptqFactorization::Reference;
           p.finish();
           LOWBIT_CHECK(o.quant.bits >= 1 && o.quant.bits <= 8, p.file(), ": method.bits must be in [1, 8], got ",
                        o.quant.bits);
           LOWBIT_CHECK(o.quant.group_size >= 0, p.file(), ": method.group_size must be >= 0");
           LOWBIT_CHECK(o.percdamp >= 0 && o.block_size >= 1, p.file(), ": method.damp >= 0 and method.blocksize >= 1");
           return std::make_unique<Gptq>(o, true_sequential);
         }});
}

}  // namespace lowbit
