#include "methods/method.h"

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

int64_t linear_input_size(const LlamaConfig& c, LinearInput in) {
  switch (in) {
    case LinearInput::Attention:
    case LinearInput::Mlp: return c.hidden_size;
    case LinearInput::AttentionOutput: return c.q_dim();
    case LinearInput::MlpDown: return c.intermediate_size;
  }
  return 0;
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
