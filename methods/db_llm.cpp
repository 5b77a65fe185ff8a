// DB-LLM, stage 1 (docs/methods/db-llm.md): each block's linears become two binary planes with a
// learnable scale each per (row, group), initialized from the 2-bit min-max grid and trained
// together with latent weights (straight-through) to reproduce the original block's output on the
// block context's inputs: AdamW, constant learning rates (relative to each linear's weight RMS),
// `epochs` passes in micro-batches, in fp32.
// Per block and deterministic, so the shards do not depend on the world size.
#include "methods/db_llm.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "framework/calibrate/block_context.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "framework/train/adamw.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/dual_binary.h"
#include "methods/method.h"

namespace lowbit {

FdbBlockState fdb_initial_state(const BlockWeights& b, int64_t group_size) {
  c10::NoGradGuard no_grad;
  FdbBlockState s;
  for (const BlockLinear& l : block_linears()) {
    const at::Tensor w = (b.*l.weight).to(at::kFloat).clone();  // [out, in]
    s.alpha[l.module] = fdb_initial_alpha(w, group_size);       // [2, out, groups]
    s.weight[l.module] = w;
  }
  return s;
}

at::Tensor fdb_block_loss(const BlockWeights& b, const FdbBlockState& s, const LlamaConfig& c, const at::Tensor& x,
                          const at::Tensor& y, const RopeTables& rope, int64_t group_size) {
  BlockWeights q = convert_block(b, at::kFloat, x.device());
  for (const BlockLinear& l : block_linears())
    q.*l.weight = fdb_ste_weight(s.weight.at(l.module), s.alpha.at(l.module), group_size);
  const at::Tensor out = block_forward(q, c, x.to(at::kFloat), rope);  // [n, L, hidden]
  return (out - y.to(at::kFloat)).pow(2).mean();
}

std::pair<double, double> fdb_train_block(const BlockWeights& b, FdbBlockState& s, const LlamaConfig& c,
                                          const at::Tensor& x, const at::Tensor& y, const RopeTables& rope,
                                          const DbLlmOptions& o, int64_t micro_batch) {
  // AdamW (no decay, no clipping, constant rate) whose per-tensor rates are relative to the RMS of
  // the linear's original weight, so one setting fits models of any weight scale.
  OptimConfig oc;
  oc.weight_decay = 0;
  oc.beta2 = 0.999;
  std::vector<Parameter> params;
  for (const BlockLinear& l : block_linears()) {
    const double rms = s.weight.at(l.module).pow(2).mean().sqrt().item<double>();
    params.push_back({std::string(l.module) + ".alpha", s.alpha.at(l.module), false, o.lr_alpha * rms});
    if (o.lr_weight > 0) params.push_back({std::string(l.module) + ".weight", s.weight.at(l.module), false, o.lr_weight * rms});
  }
  AdamW optimizer(params, oc);
  const int64_t n = x.size(0), micro = std::max<int64_t>(1, micro_batch);
  double first = 0, last = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    double sum = 0;
    for (int64_t i = 0; i < n; i += micro) {
      const int64_t m = std::min(micro, n - i);
      const at::Tensor loss = fdb_block_loss(b, s, c, x.narrow(0, i, m), y.narrow(0, i, m),
                                             rope, o.group_size);
      loss.backward();
      optimizer.step(1.0);  // each tensor at its lr_scale
      optimizer.zero_grad();
      sum += loss.item<double>() * static_cast<double>(m);
    }
    last = sum / static_cast<double>(n);
    if (epoch == 0) first = last;
  }
  return {first, last};
}

namespace {

class DbLlm : public Method {
 public:
  explicit DbLlm(DbLlmOptions o) : o_(o) {}
  void check_model(const LlamaConfig& c, const std::string& where) const override {
    check_group_size_divides(o_.group_size, c, where);
  }
  MethodNeeds needs() const override {
    MethodNeeds n;
    n.trains_block = true;
    return n;
  }

  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override {
    LOWBIT_ASSERT(which.is_all(), "db-llm trains a whole block at once");
    // The layer loop runs in inference mode; training needs autograd, and tensors made in inference
    // mode cannot be saved for a backward pass: the inputs and the block's weights are copied.
    c10::InferenceMode training(false);
    const at::Tensor x = ctx.inputs().clone();                                    // [N, L, hidden]
    const at::Tensor y = ctx.run_block(ctx.weights(), x).clone();                 // the original block's output
    BlockWeights block = ctx.weights();
    for (const BlockParameter& p : block_parameters()) block.*p.field = (ctx.weights().*p.field).to(at::kFloat).clone();
    const RopeTables rope = rope_tables(ctx.config(), x.size(1), at::kFloat, x.device());
    FdbBlockState s = fdb_initial_state(block, o_.group_size);
    for (auto& [name, w] : s.weight) w = w.to(x.device());
    for (auto& [name, a] : s.alpha) a = a.to(x.device());
    const auto [first, last] = fdb_train_block(block, s, ctx.config(), x, y, rope, o_, ctx.micro_batch());
    if (o_.epochs > 0)
      std::printf("db-llm: block %lld: reconstruction MSE %.4g (first epoch) -> %.4g (epoch %lld)\n",
                  static_cast<long long>(ctx.index()), first, last, static_cast<long long>(o_.epochs));
    QuantizedBlock out;
    c10::NoGradGuard no_grad;
    for (const BlockLinear& l : block_linears()) {
      const at::Tensor w = s.weight.at(l.module).detach(), a = s.alpha.at(l.module).detach().contiguous();
      QuantizedLinear q =
          dual_binary_linear(fdb_assign(w, a, o_.group_size), a, o_.group_size, std::string("db-llm: ") + l.module);
      q.loss = o_.epochs > 0 ? last : -1;  // the block's final reconstruction MSE
      out.linears.emplace(l.module, std::move(q));
    }
    return out;
  }

 private:
  DbLlmOptions o_;
};

}  // namespace

void register_db_llm(MethodRegistry& r) {
  r.add({"db-llm",
         "dual binarization (FDB: two 0/1 planes with learnable scales per group), trained block by block against "
         "the full-precision block (stage 1 of DB-LLM; stage 2, the distillation of its scales: lowbit distill)",
         "bits (2), group_size (128), epochs (20), lr_alpha (5e-3), lr_weight (5e-3; 0 = weights frozen); learning "
         "rates relative to each linear's weight RMS",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           DbLlmOptions o;
           const int bits = p.get<int>("bits", 2);
           o.group_size = p.get<int64_t>("group_size", 128);
           o.epochs = p.get<int64_t>("epochs", 20);
           o.lr_alpha = p.get<double>("lr_alpha", 5e-3);
           o.lr_weight = p.get<double>("lr_weight", 5e-3);
           p.finish();
           LOWBIT_CHECK(bits == 2, p.file(), ": method.bits must be 2 for db-llm (two binary planes), got ", bits);
           LOWBIT_CHECK(o.group_size > 0, p.file(), ": method.group_size must be positive for db-llm, got ", o.group_size);
           LOWBIT_CHECK(o.epochs >= 0, p.file(), ": method.epochs must be >= 0, got ", o.epochs);
           LOWBIT_CHECK(o.lr_alpha >= 0 && o.lr_weight >= 0, p.file(), ": method.lr_alpha and method.lr_weight must be >= 0");
           return std::make_unique<DbLlm>(o);
         }});
}

}  // namespace lowbit
