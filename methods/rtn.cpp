// RTN (METHODS.md §4): every linear independently, min-max grid per row or per (row, group of 128
// input columns), round to nearest. No calibration data.
#include <ATen/ATen.h>

#include "framework/config/yaml_reader.h"
#include "methods/method.h"
#include "methods/common/artifact_formats.h"
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

  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override {
    QuantizedBlock out;
    for (const BlockLinear& l : block_linears())
      if (which.contains(l))
        out.linears.emplace(l.module, round_to_nearest_linear(ctx.weights().*l.weight, spec_, std::string("rtn: ") + l.module));
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
