// A LLaMA model's weights as libtorch tensors, for a contiguous range of decoder blocks and,
// optionally, the embedding and the head: exactly what one pipeline rank holds. Only the tensors
// asked for are read from the (memory-mapped) safetensors files.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/dtype.h"
#include "framework/model/activation_quant.h"
#include "framework/model/llama_arch.h"
#include "framework/model/llama_config.h"

namespace lowbit {

struct BlockAdapters;  // framework/model/lora_adapter.h

struct BlockWeights {
  at::Tensor input_norm;  // [hidden]
  at::Tensor q;           // [heads*head_dim, hidden]
  at::Tensor k;           // [kv_heads*head_dim, hidden]
  at::Tensor v;           // [kv_heads*head_dim, hidden]
  at::Tensor o;           // [hidden, heads*head_dim]
  at::Tensor post_norm;   // [hidden]
  at::Tensor gate;        // [intermediate, hidden]
  at::Tensor up;          // [intermediate, hidden]
  at::Tensor down;        // [hidden, intermediate]
  ActivationQuant act;    // runtime forward spec: activation fake-quantization (off for a plain model)
  // LoRA adapters on the linears (fine-tuning; null for none): added to each linear's output.
  std::shared_ptr<const BlockAdapters> adapters;
};

struct LlamaWeights {
  LlamaConfig config;
  int64_t first_block = 0;       // blocks held: [first_block, first_block + blocks.size())
  std::vector<BlockWeights> blocks;
  at::Tensor embedding;          // [vocab, hidden], undefined unless loaded
  at::Tensor final_norm;         // [hidden], undefined unless the head is loaded
  at::Tensor lm_head;            // [vocab, hidden], undefined unless the head is loaded
};

struct LoadOptions {
  int64_t first_block = 0;
  int64_t end_block = -1;  // -1: through the last block
  bool embedding = true;
  bool head = true;        // final norm + lm_head
  c10::ScalarType dtype = c10::ScalarType::Float;  // compute dtype of the loaded tensors
  // Where they are loaded: each tensor goes from its mapping straight to this device, one at a time
  // (the host never holds more than one converted tensor).
  c10::Device device{c10::kCPU};
};

// The tensor of a block for one entry of llama_arch's table.
at::Tensor& block_field(BlockWeights& b, BlockTensor t);
const at::Tensor& block_field(const BlockWeights& b, BlockTensor t);

// A float weight dtype (F32, F16, BF16) of safetensors as libtorch's.
c10::ScalarType scalar_type(DType t);
// The inverse, for writing weights: refuses anything but float32, float16, bfloat16.
DType stored_dtype(c10::ScalarType t);

// Copies one tensor (checked beforehand with check_tensors) out of its mapping into an owned tensor
// of `dtype` on `device`; refuses non-finite values, naming the file and tensor.
at::Tensor read_tensor(SafetensorsModel& model, const TensorSpec& spec, c10::ScalarType dtype, c10::Device device);

// Reads MODEL_DIR/config.json and the safetensors weights it needs; validates names, shapes, dtypes.
LlamaWeights load_llama(const std::string& model_dir, const LoadOptions& options = {});

// Every tensor `w` holds under its Hugging Face name (a tied lm_head appears once, as the
// embedding), in the order of llama_arch's table.
struct NamedTensor {
  std::string name;
  at::Tensor* tensor;
};
std::vector<NamedTensor> named_tensors(LlamaWeights& w);

// A whole model with fresh weights as transformers initialises LlamaForCausalLM: linears and
// embedding ~ N(0, std), norms = 1. Deterministic in `seed`. fp32.
LlamaWeights init_llama(const LlamaConfig& config, uint64_t seed, double std = 0.02);

// Writes MODEL_DIR/config.json and MODEL_DIR/model.safetensors (tensors stored in `dtype`,
// which also becomes config.json's dtype). `w` must hold the whole model.
void save_llama(const LlamaWeights& w, const std::string& model_dir, c10::ScalarType dtype = c10::ScalarType::Float);

}  // namespace lowbit
