#include "framework/train/lora.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "framework/core/error.h"
#include "framework/core/splitmix.h"

namespace lowbit {
namespace {

const char* short_name(const char* module) {  // "self_attn.q_proj" -> "q_proj"
  const char* dot = std::strrchr(module, '.');
  return dot ? dot + 1 : module;
}

bool targeted(const LoraConfig& c, const char* module) {
  return std::find(c.target_modules.begin(), c.target_modules.end(), short_name(module)) != c.target_modules.end();
}

}  // namespace

const std::vector<LoraTarget>& lora_linears() {
  static const std::vector<LoraTarget> kLinears{
      {BlockTensor::Q, "self_attn.q_proj"}, {BlockTensor::K, "self_attn.k_proj"}, {BlockTensor::V, "self_attn.v_proj"},
      {BlockTensor::O, "self_attn.o_proj"}, {BlockTensor::Gate, "mlp.gate_proj"},  {BlockTensor::Up, "mlp.up_proj"},
      {BlockTensor::Down, "mlp.down_proj"}};
  return kLinears;
}

void LoraConfig::check(const LlamaConfig& model, const std::string& where) const {
  LOWBIT_CHECK(r >= 1, where, ": lora.r must be at least 1, got ", r);
  LOWBIT_CHECK(alpha > 0 && std::isfinite(alpha), where, ": lora.alpha must be positive, got ", alpha);
  LOWBIT_CHECK(dropout >= 0 && dropout < 1, where, ": lora.dropout must be in [0, 1), got ", dropout);
  LOWBIT_CHECK(!target_modules.empty(), where, ": lora.target_modules is empty");
  for (const std::string& m : target_modules) {
    const bool known = std::any_of(lora_linears().begin(), lora_linears().end(),
                                   [&](const LoraTarget& t) { return m == short_name(t.module); });
    LOWBIT_CHECK(known, where, ": lora.target_modules: '", m,
                 "' is not a linear of a LLaMA block (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  }
  if (!iec) return;
  for (const LoraTarget& t : lora_linears()) {
    if (!targeted(*this, t.module)) continue;
    const std::vector<int64_t> shape = block_tensor(model, 0, t.tensor).shape;  // [out, in]
    LOWBIT_CHECK(shape[0] % r == 0 && shape[1] % r == 0, where, ": lora.iec needs lora.r (", r,
                 ") to divide every adapted linear's input and output sizes; ", t.module, " is ",
                 shape_to_string(shape), " ([out, in])");
  }
}

std::string peft_tensor_name(int64_t layer, const char* module, const char* leaf) {
  return fmt::format("base_model.model.model.layers.{}.{}.{}", layer, module, leaf);
}

LoraModel make_lora_model(const LlamaConfig& model, const LoraConfig& lora, c10::Device device) {
  LoraModel m;
  m.config_ = lora;
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  for (int64_t layer = 0; layer < model.num_hidden_layers; ++layer) {
    auto block = std::make_shared<BlockAdapters>();
    block->layer = layer;
    for (const LoraTarget& t : lora_linears()) {
      if (!targeted(lora, t.module)) continue;
      const std::vector<int64_t> shape = block_tensor(model, layer, t.tensor).shape;  // [out, in]
      LinearAdapter& ad = block->at(t.tensor);
      ad.a = at::zeros({lora.r, shape[1]}, opts);  // [r, in]
      ad.b = at::zeros({shape[0], lora.r}, opts);  // [out, r]
      if (lora.iec) {
        ad.beta_a = at::zeros({1}, opts);  // IR-QLoRA keeps β as [1] tensors
        ad.beta_b = at::zeros({1}, opts);
      }
      ad.scaling = lora.scaling();
    }
    m.blocks_.push_back(std::move(block));
  }
  return m;
}

LoraModel LoraModel::init(const LlamaConfig& model, const LoraConfig& lora, uint64_t seed, c10::Device device) {
  LoraModel m = make_lora_model(model, lora, device);
  c10::NoGradGuard no_grad;
  for (int64_t layer = 0; layer < m.layers(); ++layer) {
    for (const LoraTarget& t : lora_linears()) {
      LinearAdapter& ad = m.block(layer).at(t.tensor);
      if (!ad.defined()) continue;
      // kaiming_uniform_(a=√5) on [r, in]: bound = gain·sqrt(3/fan_in) with gain = sqrt(2/(1+5)),
      // i.e. 1/sqrt(in). Drawn on the host from (seed, layer, linear), so every device gets the same.
      const double bound = 1.0 / std::sqrt(static_cast<double>(ad.a.size(1)));
      at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
          splitmix64(seed ^ splitmix64(static_cast<uint64_t>(layer) * 16 + static_cast<uint64_t>(t.tensor))));
      ad.a.copy_(at::empty(ad.a.sizes(), at::kFloat).uniform_(-bound, bound, gen));
    }
  }
  return m;
}

void LoraModel::attach(LlamaWeights& w) const {
  for (std::size_t i = 0; i < w.blocks.size(); ++i) w.blocks[i].adapters = blocks_.at(w.first_block + i);
}

std::vector<Parameter> LoraModel::parameters() const {
  std::vector<Parameter> out;
  for (int64_t layer = 0; layer < layers(); ++layer) {
    for (const LoraTarget& t : lora_linears()) {
      const LinearAdapter& ad = block(layer).at(t.tensor);
      if (!ad.defined()) continue;
      out.push_back({peft_tensor_name(layer, t.module, "lora_A.weight"), ad.a, true});
      out.push_back({peft_tensor_name(layer, t.module, "lora_B.weight"), ad.b, true});
      if (ad.iec()) {
        out.push_back({peft_tensor_name(layer, t.module, "lora_default_A_scale"), ad.beta_a, true});
        out.push_back({peft_tensor_name(layer, t.module, "lora_default_B_scale"), ad.beta_b, true});
      }
    }
  }
  return out;
}

void LoraModel::merge_into(LlamaWeights& w) const {
  c10::NoGradGuard no_grad;
  for (std::size_t i = 0; i < w.blocks.size(); ++i) {
    BlockWeights& b = w.blocks[i];
    const BlockAdapters& ad = *blocks_.at(w.first_block + i);
    for (const LoraTarget& t : lora_linears()) {
      if (!ad.at(t.tensor).defined()) continue;
      at::Tensor& weight = block_field(b, t.tensor);  // [out, in]
      weight = (weight.to(at::kFloat) + merged_delta(ad.at(t.tensor)).to(weight.device())).to(weight.scalar_type());
    }
    b.adapters = nullptr;
  }
}

}  // namespace lowbit
