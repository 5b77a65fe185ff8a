#include "framework/model/llama_arch.h"

#include <set>

#include <sstream>

#include "framework/core/error.h"
#include "framework/model/safetensors.h"

namespace lowbit {
namespace {

struct BlockRow {
  BlockTensor t;
  const char* suffix;
};
constexpr std::array<BlockRow, kBlockTensorCount> kBlockRows{{
    {BlockTensor::InputNorm, "input_layernorm.weight"},
    {BlockTensor::Q, "self_attn.q_proj.weight"},
    {BlockTensor::K, "self_attn.k_proj.weight"},
    {BlockTensor::V, "self_attn.v_proj.weight"},
    {BlockTensor::O, "self_attn.o_proj.weight"},
    {BlockTensor::PostNorm, "post_attention_layernorm.weight"},
    {BlockTensor::Gate, "mlp.gate_proj.weight"},
    {BlockTensor::Up, "mlp.up_proj.weight"},
    {BlockTensor::Down, "mlp.down_proj.weight"},
}};

std::vector<int64_t> block_shape(const LlamaConfig& c, BlockTensor t) {
  switch (t) {
    case BlockTensor::InputNorm:
    case BlockTensor::PostNorm: return {c.hidden_size};
    case BlockTensor::Q: return {c.q_dim(), c.hidden_size};
    case BlockTensor::K:
    case BlockTensor::V: return {c.kv_dim(), c.hidden_size};
    case BlockTensor::O: return {c.hidden_size, c.q_dim()};
    case BlockTensor::Gate:
    case BlockTensor::Up: return {c.intermediate_size, c.hidden_size};
    case BlockTensor::Down: return {c.hidden_size, c.intermediate_size};
  }
  LOWBIT_ASSERT(false, "unknown block tensor");
}

}  // namespace

std::string shape_to_string(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "[";
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

TensorSpec block_tensor(const LlamaConfig& c, int64_t layer, BlockTensor t) {
  const BlockRow& row = kBlockRows[static_cast<int>(t)];
  return {c.weights_prefix + "layers." + std::to_string(layer) + "." + row.suffix, block_shape(c, t)};
}

std::array<TensorSpec, kBlockTensorCount> block_tensors(const LlamaConfig& c, int64_t layer) {
  std::array<TensorSpec, kBlockTensorCount> out;
  for (int i = 0; i < kBlockTensorCount; ++i) out[i] = block_tensor(c, layer, kBlockRows[i].t);
  return out;
}

TensorSpec embedding_tensor(const LlamaConfig& c) {
  return {c.weights_prefix + "embed_tokens.weight", {c.vocab_size, c.hidden_size}};
}
TensorSpec final_norm_tensor(const LlamaConfig& c) { return {c.weights_prefix + "norm.weight", {c.hidden_size}}; }
TensorSpec lm_head_tensor(const LlamaConfig& c) {
  return c.tie_word_embeddings ? embedding_tensor(c) : TensorSpec{c.lm_head_name, {c.vocab_size, c.hidden_size}};
}

std::vector<TensorSpec> all_tensors(const LlamaConfig& c) {
  std::vector<TensorSpec> out{embedding_tensor(c)};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    for (auto& s : block_tensors(c, l)) out.push_back(std::move(s));
  out.push_back(final_norm_tensor(c));
  if (!c.tie_word_embeddings) out.push_back(lm_head_tensor(c));
  return out;
}

void check_tensors(SafetensorsModel& model, const std::vector<TensorSpec>& specs, const std::string& config_path) {
  for (const TensorSpec& s : specs) {
    LOWBIT_CHECK(model.contains(s.name), model.sharded() ? model.dir() + "/model.safetensors.index.json"
                                                         : model.dir() + "/model.safetensors",
                 ": missing tensor '", s.name, "' that ", config_path, " needs (shape ", shape_to_string(s.shape), ")");
    const TensorInfo& t = model.info(s.name);
    LOWBIT_CHECK(t.shape == s.shape, model.file_of(s.name), ": tensor '", s.name, "' has shape ",
                 shape_to_string(t.shape), ", but ", config_path, " needs ", shape_to_string(s.shape));
    LOWBIT_CHECK(dtype_is_weight_float(t.dtype), model.file_of(s.name), ": tensor '", s.name, "' has dtype ",
                 dtype_name(t.dtype), ", expected F32, F16 or BF16");
  }
}

void check_no_unknown_tensors(const SafetensorsModel& model, const LlamaConfig& c, const std::string& config_path,
                              const std::set<std::string>& also_known) {
  std::set<std::string> known = also_known;
  for (const TensorSpec& s : all_tensors(c)) known.insert(s.name);
  if (c.tie_word_embeddings) known.insert(c.lm_head_name);
  std::vector<std::string> unknown;
  for (const std::string& name : model.names()) {
    // A multimodal checkpoint's other parts (vision tower, projector) are framework/model/llava_next's.
    if (c.multimodal() && name.rfind("language_model.", 0) != 0) continue;
    const std::string buffer = ".rotary_emb.inv_freq";
    const bool is_buffer = name.size() >= buffer.size() && name.compare(name.size() - buffer.size(), buffer.size(), buffer) == 0;
    if (!known.count(name) && !is_buffer) unknown.push_back(name);
  }
  if (unknown.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < unknown.size() && i < 3; ++i) list += (i ? ", " : "") + unknown[i];
  LOWBIT_FAIL(model.sharded() ? model.dir() + "/model.safetensors.index.json" : model.dir() + "/model.safetensors",
              ": ", unknown.size(), " tensor", unknown.size() > 1 ? "s" : "", " that ", config_path,
              " does not describe (", list, unknown.size() > 3 ? ", ..." : "",
              "): the weights and the config disagree (biases, more layers, another architecture)");
}

}  // namespace lowbit
