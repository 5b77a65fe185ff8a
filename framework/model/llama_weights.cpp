#include "framework/model/llama_weights.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "framework/core/error.h"
#include "framework/model/llama_arch.h"
#include "framework/model/safetensors.h"

namespace lowbit {
namespace {

c10::ScalarType scalar_type(DType t) {
  switch (t) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    default: LOWBIT_ASSERT(false, "not a weight dtype: ", dtype_name(t));
  }
}

// Copies one validated tensor out of its mapping into an owned tensor of `dtype`.
at::Tensor read(SafetensorsModel& model, const TensorSpec& spec, c10::ScalarType dtype) {
  const TensorView v = model.view(spec.name);
  // from_blob does not own the mapping; the copy below does (and tolerates unaligned data).
  at::Tensor mapped = at::from_blob(const_cast<std::byte*>(v.data), v.info->shape,
                                    at::TensorOptions().dtype(scalar_type(v.info->dtype)));
  return mapped.to(dtype, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

LlamaWeights load_llama(const std::string& model_dir, const LoadOptions& opt) {
  const std::string config_path = (std::filesystem::path(model_dir) / "config.json").string();
  LlamaWeights w;
  w.config = LlamaConfig::from_file(config_path);
  const LlamaConfig& c = w.config;
  const int64_t end = opt.end_block < 0 ? c.num_hidden_layers : opt.end_block;
  LOWBIT_CHECK(opt.first_block >= 0 && opt.first_block <= end && end <= c.num_hidden_layers,
               "block range [", opt.first_block, ", ", end, ") is outside the model's ", c.num_hidden_layers,
               " blocks (", config_path, ")");

  SafetensorsModel model(model_dir);
  std::vector<TensorSpec> wanted;
  if (opt.embedding) wanted.push_back(embedding_tensor(c));
  for (int64_t l = opt.first_block; l < end; ++l)
    for (auto& s : block_tensors(c, l)) wanted.push_back(std::move(s));
  if (opt.head) {
    wanted.push_back(final_norm_tensor(c));
    wanted.push_back(lm_head_tensor(c));
  }
  check_tensors(model, wanted, config_path);

  w.first_block = opt.first_block;
  if (opt.embedding) w.embedding = read(model, embedding_tensor(c), opt.dtype);
  for (int64_t l = opt.first_block; l < end; ++l) {
    const auto specs = block_tensors(c, l);
    const auto get = [&](BlockTensor t) { return read(model, specs[static_cast<int>(t)], opt.dtype); };
    BlockWeights b;
    b.input_norm = get(BlockTensor::InputNorm);
    b.q = get(BlockTensor::Q);
    b.k = get(BlockTensor::K);
    b.v = get(BlockTensor::V);
    b.o = get(BlockTensor::O);
    b.post_norm = get(BlockTensor::PostNorm);
    b.gate = get(BlockTensor::Gate);
    b.up = get(BlockTensor::Up);
    b.down = get(BlockTensor::Down);
    w.blocks.push_back(std::move(b));
  }
  if (opt.head) {
    w.final_norm = read(model, final_norm_tensor(c), opt.dtype);
    w.lm_head = (c.tie_word_embeddings && w.embedding.defined()) ? w.embedding
                                                                 : read(model, lm_head_tensor(c), opt.dtype);
  }
  return w;
}

}  // namespace lowbit
