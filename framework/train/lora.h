// LoRA adapters of a model (QLoRA's and IR-QLoRA's recipe): which linears get them, their rank and
// scaling, PEFT's initialisation, and their names as PEFT (and IR-QLoRA, for IEC's β) save them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/model/lora_adapter.h"
#include "framework/model/llama_weights.h"
#include "framework/train/adamw.h"

namespace lowbit {

struct LoraConfig {
  int64_t r = 64;
  double alpha = 16;    // scaling = alpha / r
  double dropout = 0.0; // on the adapter path's input (qlora.py's and IR-QLoRA's default 0)
  // Hugging Face module names (the last component: q_proj, ..., down_proj); QLoRA: every linear
  // of the blocks (find_all_linear_names without lm_head).
  std::vector<std::string> target_modules{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  bool iec = false;     // IR-QLoRA's Information Elastic Connection (β_A, β_B per linear)

  double scaling() const { return alpha / static_cast<double>(r); }
  // Refuses a rank IEC's chunks cannot divide, an unknown module name, ...; `where` names the source.
  void check(const LlamaConfig& model, const std::string& where) const;
};

// The seven linears of a block: BlockTensor, Hugging Face module path ("self_attn.q_proj").
struct LoraTarget {
  BlockTensor tensor;
  const char* module;
};
const std::vector<LoraTarget>& lora_linears();

// Every block's adapters (fp32, on `device`), attached to a model's blocks by `attach`.
class LoraModel {
 public:
  // Fresh adapters for blocks [0, config.num_hidden_layers): A ~ U(±1/sqrt(in)) (PEFT's
  // kaiming_uniform(a=√5)), B = 0, β = 0. Deterministic in `seed`.
  static LoraModel init(const LlamaConfig& model, const LoraConfig& lora, uint64_t seed, c10::Device device = c10::kCPU);

  const LoraConfig& config() const { return config_; }
  // Sets each block's adapters (w's blocks are layers first_block ...).
  void attach(LlamaWeights& w) const;
  // The trainable tensors under the names PEFT saves them with (β under IR-QLoRA's names).
  std::vector<Parameter> parameters() const;
  BlockAdapters& block(int64_t layer) { return *blocks_.at(static_cast<std::size_t>(layer)); }
  const BlockAdapters& block(int64_t layer) const { return *blocks_.at(static_cast<std::size_t>(layer)); }
  int64_t layers() const { return static_cast<int64_t>(blocks_.size()); }

  // Adds every adapter into its linear's weight (W + merged_delta) and detaches the adapters: the
  // model evaluation runs.
  void merge_into(LlamaWeights& w) const;

 private:
  LoraConfig config_;
  std::vector<std::shared_ptr<BlockAdapters>> blocks_;
  friend LoraModel make_lora_model(const LlamaConfig&, const LoraConfig&, c10::Device);
};

// Adapters of the config's shapes, tensors allocated (zeros), for a loader to fill.
LoraModel make_lora_model(const LlamaConfig& model, const LoraConfig& lora, c10::Device device = c10::kCPU);

// PEFT's saved names: "base_model.model.model.layers.{L}.{module}.lora_A.weight" / "lora_B.weight";
// IEC's β as IR-QLoRA saves them: "...{module}.lora_default_A_scale" / "lora_default_B_scale".
std::string peft_tensor_name(int64_t layer, const char* module, const char* leaf);

}  // namespace lowbit
