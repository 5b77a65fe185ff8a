// The LLaMA architecture as data: the tensors a LlamaForCausalLM checkpoint holds, their Hugging
// Face names and the shapes config.json implies. Loading, validation, `lowbit info` and (later)
// the partition plan all read this one table.
#pragma once

#include <array>
#include <set>
#include <cstdint>
#include <string>
#include <vector>

#include "framework/model/llama_config.h"

namespace lowbit {

class SafetensorsModel;

enum class BlockTensor { InputNorm, Q, K, V, O, PostNorm, Gate, Up, Down };
// The seven linears (q, k, v, o, gate, up, down), not the two norms.
inline bool is_linear(BlockTensor t) { return t != BlockTensor::InputNorm && t != BlockTensor::PostNorm; }
inline constexpr int kBlockTensorCount = 9;

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// "model.layers.{layer}.self_attn.q_proj.weight", ... and its shape ([out, in] for linears).
TensorSpec block_tensor(const LlamaConfig& c, int64_t layer, BlockTensor t);
std::array<TensorSpec, kBlockTensorCount> block_tensors(const LlamaConfig& c, int64_t layer);
TensorSpec embedding_tensor(const LlamaConfig& c);   // [vocab, hidden]
TensorSpec final_norm_tensor(const LlamaConfig& c);  // [hidden]
// [vocab, hidden]; with tied embeddings this is the embedding tensor.
TensorSpec lm_head_tensor(const LlamaConfig& c);
// Every tensor the model needs, embedding first, blocks in order, then final norm and head.
std::vector<TensorSpec> all_tensors(const LlamaConfig& c);

// "[4096, 14336]"
std::string shape_to_string(const std::vector<int64_t>& shape);

// Checks that each spec exists in `model` with that shape and a float dtype; errors name the file
// (or index) and the tensor.
void check_tensors(SafetensorsModel& model, const std::vector<TensorSpec>& specs,
                   const std::string& config_path);
// Refuses tensors the config does not describe (biases with attention_bias false, layers beyond
// num_hidden_layers, another architecture's weights): they would be ignored, and the numbers wrong.
// Allowed: RoPE's recomputed inv_freq buffers, and lm_head.weight beside tied embeddings (ignored,
// as transformers ties it to the embedding).
// `also_known`: more names the checkpoint may hold (a packed checkpoint's qweight/scales/...).
void check_no_unknown_tensors(const SafetensorsModel& model, const LlamaConfig& c, const std::string& config_path,
                              const std::set<std::string>& also_known = {});

}  // namespace lowbit
