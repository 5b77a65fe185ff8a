#include "methods/method.h"

#include <algorithm>

#include "framework/core/error.h"

namespace lowbit {

const std::array<BlockLinear, 7>& block_linears() {
  static const std::array<BlockLinear, 7> kLinears{{
      {"self_attn.q_proj", &BlockWeights::q, LinearInput::Attention},
      {"self_attn.k_proj", &BlockWeights::k, LinearInput::Attention},
      {"self_attn.v_proj", &BlockWeights::v, LinearInput::Attention},
      {"self_attn.o_proj", &BlockWeights::o, LinearInput::AttentionOutput},
      {"mlp.gate_proj", &BlockWeights::gate, LinearInput::Mlp},
      {"mlp.up_proj", &BlockWeights::up, LinearInput::Mlp},
      {"mlp.down_proj", &BlockWeights::down, LinearInput::MlpDown},
  }};
  return kLinears;
}

const char* statistic_name(Statistic s) {
  switch (s) {
    case Statistic::Hessian: return "hessian";
    case Statistic::AbsMax: return "abs_max";
    case Statistic::AbsMean: return "abs_mean";
    case Statistic::HessianF64: return "hessian_f64";
  }
  return "?";
}

const std::array<Statistic, 4>& all_statistics() {
  static const std::array<Statistic, 4> kAll = {Statistic::Hessian, Statistic::AbsMax, Statistic::AbsMean,
                                                Statistic::HessianF64};
  return kAll;
}

bool MethodNeeds::needs(Statistic s) const {
  return std::find(statistics.begin(), statistics.end(), s) != statistics.end();
}

std::array<at::Tensor, 4>& BlockStatistics::of(Statistic s) {
  return const_cast<std::array<at::Tensor, 4>&>(static_cast<const BlockStatistics&>(*this).of(s));
}
const std::array<at::Tensor, 4>& BlockStatistics::of(Statistic s) const {
  switch (s) {
    case Statistic::Hessian: return hessian;
    case Statistic::AbsMax: return abs_max;
    case Statistic::AbsMean: return abs_mean;
    case Statistic::HessianF64: return hessian_f64;
  }
  return hessian;
}

const at::Tensor& BlockStatistics::get(Statistic s, LinearInput in) const {
  const at::Tensor& t = of(s)[static_cast<int>(in)];
  LOWBIT_CHECK(t.defined(), "the ", statistic_name(s), " statistic of the '", linear_input_name(in),
               "' input was not gathered (a method must declare every statistic it reads in needs())");
  return t;
}

void QuantizedBlock::merge(QuantizedBlock other) {
  LOWBIT_ASSERT(linears.empty() || other.activations == activations,
                "the groups of one block must share one forward spec");
  activations = other.activations;
  linears.merge(other.linears);
  parameters.merge(other.parameters);
}

const std::array<BlockParameter, 9>& block_parameters() {
  static const std::array<BlockParameter, 9> kParameters{{
      {"input_layernorm.weight", &BlockWeights::input_norm},
      {"self_attn.q_proj.weight", &BlockWeights::q},
      {"self_attn.k_proj.weight", &BlockWeights::k},
      {"self_attn.v_proj.weight", &BlockWeights::v},
      {"self_attn.o_proj.weight", &BlockWeights::o},
      {"post_attention_layernorm.weight", &BlockWeights::post_norm},
      {"mlp.gate_proj.weight", &BlockWeights::gate},
      {"mlp.up_proj.weight", &BlockWeights::up},
      {"mlp.down_proj.weight", &BlockWeights::down},
  }};
  return kParameters;
}

BlockWeights convert_block(const BlockWeights& b, c10::ScalarType dtype, c10::Device device) {
  BlockWeights c = b;
  for (const BlockParameter& p : block_parameters()) {
    at::Tensor& t = c.*p.field;
    if (t.defined()) t = t.to(device, dtype);
  }
  return c;
}

BlockWeights apply_quantized_block(const BlockWeights& b, const QuantizedBlock& q, const std::string& where) {
  BlockWeights out = b;
  auto replace = [&](at::Tensor BlockWeights::*field, const at::Tensor& value, const std::string& name) {
    const at::Tensor& mine = b.*field;
    LOWBIT_CHECK(value.defined() && value.sizes() == mine.sizes(), where, ": ", name, " is ",
                 value.defined() ? value.sizes() : at::IntArrayRef{}, ", the model's is ", mine.sizes());
    out.*field = value.to(mine.device(), mine.scalar_type());  // from the method (device) or a shard (host)
  };
  for (const auto& [module, linear] : q.linears) {
    const std::string& m = module;  // (clang 14 cannot capture a structured binding)
    auto l = std::find_if(block_linears().begin(), block_linears().end(),
                          [&](const BlockLinear& x) { return m == x.module; });
    LOWBIT_CHECK(l != block_linears().end(), where, ": '", module, "' is not one of the block's seven linears");
    replace(l->weight, linear.weight, module);
  }
  for (const auto& [name, value] : q.parameters) {
    const std::string& n = name;
    auto p = std::find_if(block_parameters().begin(), block_parameters().end(),
                          [&](const BlockParameter& x) { return n == x.name; });
    LOWBIT_CHECK(p != block_parameters().end(), where, ": replaced parameter '", name, "' is not a block parameter");
    const std::string module = name.substr(0, name.rfind('.'));
    LOWBIT_CHECK(!q.linears.count(module), where, ": '", name, "' is both quantized and replaced");
    replace(p->field, value, name);
  }
  check_activation_quant(q.activations, where);
  out.act = q.activations;
  return out;
}

const char* linear_input_name(LinearInput in) {
  switch (in) {
    case LinearInput::Attention: return "attention";
    case LinearInput::AttentionOutput: return "attention_output";
    case LinearInput::Mlp: return "mlp";
    case LinearInput::MlpDown: return "mlp_down";
  }
  return "?";
}

int64_t linear_input_size(const LlamaConfig& c, LinearInput in) {
  switch (in) {
    case LinearInput::Attention:
    case LinearInput::Mlp: return c.hidden_size;
    case LinearInput::AttentionOutput: return c.q_dim();
    case LinearInput::MlpDown: return c.intermediate_size;
  }
  return 0;
}

MethodNeeds PerLinearHessianMethod::needs() const {
  MethodNeeds n;
  n.statistics = {Statistic::Hessian};
  return n;
}

QuantizedBlock PerLinearHessianMethod::quantize_block(const BlockContext& ctx, const LinearSet& which) const {
  QuantizedBlock out;
  for (const BlockLinear& l : block_linears())
    if (which.contains(l))
      out.linears.emplace(
          l.module, quantize_linear(ctx.weights().*l.weight, ctx.statistics().get(Statistic::Hessian, l.input), l.module));
  return out;
}

void check_group_size_divides(int64_t group_size, const LlamaConfig& c, const std::string& where) {
  if (group_size == 0) return;
  for (const BlockLinear& l : block_linears()) {
    const int64_t in = linear_input_size(c, l.input);
    LOWBIT_CHECK(in % group_size == 0, where, ": key 'method.group_size': ", group_size, " does not divide ", l.module,
                 "'s ", in, " inputs (use a divisor of ", in, ", or 0 for per-channel grids)");
  }
}

MethodRegistry& MethodRegistry::builtin() {
  static MethodRegistry* r = [] {
    auto* reg = new MethodRegistry();
    register_rtn(*reg);
    register_gptq(*reg);
    register_awq(*reg);
    register_smoothquant(*reg);
    register_pb_llm(*reg);
    register_billm(*reg);
    register_slim_llm(*reg);
    register_quip(*reg);
    register_nf4(*reg);
    register_db_llm(*reg);
    return reg;
  }();
  return *r;
}

void MethodRegistry::add(MethodInfo info) {
  LOWBIT_ASSERT(!info.name.empty() && info.create, "a method needs a name and a factory");
  LOWBIT_ASSERT(methods_.count(info.name) == 0, "method '", info.name, "' registered twice");
  const std::string name = info.name;
  methods_.emplace(name, std::move(info));
}

const MethodInfo& MethodRegistry::get(const std::string& name) const {
  auto it = methods_.find(name);
  if (it == methods_.end()) {
    std::string known;
    for (const auto& [n, m] : methods_) known += (known.empty() ? "" : ", ") + n;
    LOWBIT_FAIL("method '", name, "' is not available yet (available: ", known, ")");
  }
  return it->second;
}

std::vector<std::string> MethodRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, m] : methods_) out.push_back(n);
  return out;
}

}  // namespace lowbit
