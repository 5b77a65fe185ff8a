// NormalFloat-4 (the study's "NormalFloat" row and the base of its QLoRA / IR-QLoRA rows; METHODS.md
// §13, §14): data-free, each linear's weight to bitsandbytes' NF4 with double quantization
// (methods/common/nf4.h), optionally shifted per block by IR-QLoRA's ICQ (methods/common/icq.h).
// Stored as the "nf4" format, bitsandbytes' bytes.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "framework/model/llama_arch.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/icq.h"
#include "methods/common/nf4.h"
#include "methods/method.h"

namespace lowbit {
namespace {

struct Nf4Options {
  bool double_quant = true;
  bool icq = false;
  double tau_range = 0.1;  // IR-QLoRA's --tau_lambda
  int64_t tau_n = 100;     // 2 · tau_n + 1 candidates
};

constexpr int64_t kBlock = 64;

QuantizedLinear nf4_linear(const at::Tensor& w, const Nf4Options& o, const std::string& where) {
  at::Tensor target = w.to(at::kFloat);  // [out, in]
  QuantizedLinear q;
  if (o.icq) {
    const IcqResult r = icq_search(target, o.tau_range, o.tau_n, where);
    target = (target.reshape({-1, kBlock}) - r.tau.unsqueeze(1)).view(w.sizes());
    q.tensors["tau1"] = r.tau1;
    q.tensors["tau2"] = r.tau2;
  }
  const Nf4State s = nf4_quantize(target, kBlock, o.double_quant);
  q.format = "nf4";
  q.bits = 4;
  q.group_size = kBlock;
  q.symmetric = true;
  q.tensors["shape"] = at::tensor(std::vector<int64_t>{w.size(0), w.size(1)}, at::kLong).to(w.device());
  q.tensors["packed"] = s.packed;
  q.tensors["absmax"] = s.absmax;
  if (s.double_quant()) {
    q.tensors["nested_absmax"] = s.nested_absmax;
    q.tensors["offset"] = s.offset;
  }
  finish_artifact(q, where);
  return q;
}

class Nf4 : public Method {
 public:
  explicit Nf4(Nf4Options o) : o_(o) {}
  MethodNeeds needs() const override { return {}; }  // data-free

  void check_model(const LlamaConfig& c, const std::string& where) const override {
    if (!o_.icq) return;
    // Every linear's weight count must be a multiple of 16384 (ICQ's super-blocks).
    for (const TensorSpec& t : block_tensors(c, 0)) {
      if (t.shape.size() != 2) continue;  // the norms
      const int64_t n = t.shape[0] * t.shape[1];
      LOWBIT_CHECK(n % 16384 == 0, where, ": method.icq is true but ", t.name, " has ", n, " weights, not a multiple "
                   "of 16384 (ICQ groups 256 NF4 blocks of 64 under one τ scale, as the reference hard-codes)");
    }
  }

  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override {
    QuantizedBlock out;
    for (const BlockLinear& l : block_linears())
      if (which.contains(l))
        out.linears.emplace(l.module, nf4_linear(ctx.weights().*l.weight, o_, fmt::format("block {}: {}", ctx.index(), l.module)));
    return out;
  }

 private:
  Nf4Options o_;
};

}  // namespace

void register_nf4(MethodRegistry& r) {
  r.add({"nf4",
         "NormalFloat-4 as bitsandbytes stores it (blocks of 64, double-quantized absmax), optionally IR-QLoRA's ICQ "
         "shift per block; data-free",
         "bits (4 only), group_size (64 only), double_quant (true), icq (false), tau_range (0.1), tau_n (100)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           Nf4Options o;
           const int bits = p.get<int>("bits", 4);
           const int64_t group = p.get<int64_t>("group_size", kBlock);
           o.double_quant = p.get<bool>("double_quant", true);
           o.icq = p.get<bool>("icq", false);
           o.tau_range = p.get<double>("tau_range", 0.1);
           o.tau_n = p.get<int64_t>("tau_n", 100);
           p.finish();
           LOWBIT_CHECK(bits == 4, p.file(), ": method.bits is ", bits, " but NF4 codes are 4 bits (write 4 or leave it out)");
           LOWBIT_CHECK(group == kBlock, p.file(), ": method.group_size is ", group,
                        " but NF4 blocks are 64 weights, as bitsandbytes' (write 64 or leave it out)");
           LOWBIT_CHECK(o.tau_range > 0 && o.tau_n >= 1, p.file(), ": method.tau_range > 0 and method.tau_n >= 1");
           return std::make_unique<Nf4>(o);
         }});
}

}  // namespace lowbit
