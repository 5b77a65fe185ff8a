// RTN (METHODS.md §4): every linear independently, min-max grid per row or per (row, group of 128
// input columns), round to nearest. No calibration data.
#include <ATen/ATen.h>

#include "framework/config/yaml_reader.h"
#include "methods/method.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {
namespace {

class Rtn : public Method {
 public:
  explicit Rtn(UniformQuantSpec spec) : spec_(spec) {}
  void check_model(const LlamaConfig& c, const std::string& where) const override {
    check_group_size_divides(spec_.group_size, c, where);
  }
  MethodNeeds needs() const override { return {}; }

  std::map<std::string, QuantizedLinear> quantize_block(const BlockWeights& block, const BlockStatistics&,
                                                        const LinearSet& which) const override {
    std::map<std::string, QuantizedLinear> out;
    for (const BlockLinear& l : block_linears()) {
      if (!which.contains(l)) continue;
      const at::Tensor& w = block.*l.weight;  // [out, in]
      LOWBIT_CHECK(spec_.group_size == 0 || w.size(1) % spec_.group_size == 0, "rtn: group_size ", spec_.group_size,
                   " does not divide ", l.module, "'s ", w.size(1), " inputs");
      const GroupedCodes g = quantize_grouped(w, spec_);
      QuantizedLinear q;
      q.format = "uniform";
      q.bits = spec_.bits;
      q.group_size = spec_.group_size;
      q.symmetric = spec_.symmetric;
      q.tensors["codes"] = g.codes;
      q.tensors["scale"] = g.scale;
      q.tensors["zero"] = g.zero;
      // [in]: integer division (a true one would go through float, by a reciprocal on CUDA)
      q.tensors["g_idx"] = at::div(at::arange(w.size(1), w.options().dtype(at::kInt)), g.group_size, "floor");
      q.weight = dequantize_uniform(g.codes, g.scale, g.zero, q.tensors["g_idx"]);
      out.emplace(l.module, std::move(q));
    }
    return out;
  }

 private:
  UniformQuantSpec spec_;
};

}  // namespace

void register_rtn(MethodRegistry& r) {
  r.add({"rtn", "round-to-nearest, min-max grid per channel or per group (no calibration data)",
         "bits (4), group_size (128; 0 = per channel), sym (false)", [](YamlSection& p) -> std::unique_ptr<Method> {
           UniformQuantSpec s;
           s.bits = p.get<int>("bits", 4);
           s.group_size = p.get<int64_t>("group_size", 128);
           s.symmetric = p.get<bool>("sym", false);
           p.finish();
           LOWBIT_CHECK(s.bits >= 1 && s.bits <= 8, p.file(), ": method.bits must be in [1, 8], got ", s.bits);
           LOWBIT_CHECK(s.group_size >= 0, p.file(), ": method.group_size must be >= 0, got ", s.group_size);
           return std::make_unique<Rtn>(s);
         }});
}

}  // namespace lowbit
