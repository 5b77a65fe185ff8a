#include "framework/model/llama_weights.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <optional>
#include <set>

#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/export/packed_checkpoint.h"
#include "framework/model/llama_arch.h"
#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"

namespace lowbit {

c10::ScalarType scalar_type(DType t) {
  switch (t) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    default: LOWBIT_ASSERT(false, "not a weight dtype: ", dtype_name(t));
  }
}

DType stored_dtype(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    default: LOWBIT_FAIL("cannot store weights as ", c10::toString(t), " (float32, float16 or bfloat16)");
  }
}

at::Tensor& block_field(BlockWeights& b, BlockTensor t) {
  switch (t) {
    case BlockTensor::InputNorm: return b.input_norm;
    case BlockTensor::Q: return b.q;
    case BlockTensor::K: return b.k;
    case BlockTensor::V: return b.v;
    case BlockTensor::O: return b.o;
    case BlockTensor::PostNorm: return b.post_norm;
    case BlockTensor::Gate: return b.gate;
    case BlockTensor::Up: return b.up;
    case BlockTensor::Down: return b.down;
  }
  LOWBIT_ASSERT(false, "unknown block tensor");
}

const at::Tensor& block_field(const BlockWeights& b, BlockTensor t) {
  return block_field(const_cast<BlockWeights&>(b), t);
}

at::Tensor read_tensor(SafetensorsModel& model, const TensorSpec& spec, c10::ScalarType dtype, c10::Device device) {
  const TensorView v = model.view(spec.name);
  // from_blob does not own the mapping; the copy below does (and tolerates unaligned data).
  at::Tensor mapped = at::from_blob(const_cast<std::byte*>(v.data), v.info->shape,
                                    at::TensorOptions().dtype(scalar_type(v.info->dtype)));
  at::Tensor owned = mapped.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  model.release(spec.name);  // the copy is what the rank keeps
  // A NaN or Inf weight would give NaN outputs far from here (a null perplexity, a failed solve).
  if (!owned.isfinite().all().item<bool>())
    LOWBIT_FAIL(*v.file, ": tensor ", spec.name, " has ", owned.isfinite().logical_not().sum().item<int64_t>(),
                " non-finite value(s) (NaN or Inf) after conversion to ", float_dtype_name(dtype),
                mapped.isfinite().all().item<bool>() ? " (they are finite in the file: it overflows this dtype)" : "");
  return owned;
}

namespace {

const char* config_dtype(c10::ScalarType t) {
  return t == at::kBFloat16 ? "bfloat16" : t == at::kHalf ? "float16" : "float32";
}

}  // namespace

std::vector<NamedTensor> named_tensors(LlamaWeights& w) {
  const LlamaConfig& c = w.config;
  std::vector<NamedTensor> out;
  if (w.embedding.defined()) out.push_back({embedding_tensor(c).name, &w.embedding});
  for (std::size_t i = 0; i < w.blocks.size(); ++i) {
    const int64_t layer = w.first_block + static_cast<int64_t>(i);
    for (int t = 0; t < kBlockTensorCount; ++t) {
      const auto bt = static_cast<BlockTensor>(t);
      out.push_back({block_tensor(c, layer, bt).name, &block_field(w.blocks[i], bt)});
    }
  }
  if (w.final_norm.defined()) out.push_back({final_norm_tensor(c).name, &w.final_norm});
  const bool head_is_embedding = w.embedding.defined() && w.lm_head.defined() && w.lm_head.is_same(w.embedding);
  if (w.lm_head.defined() && !head_is_embedding) out.push_back({lm_head_tensor(c).name, &w.lm_head});
  return out;
}

LlamaWeights init_llama(const LlamaConfig& c, uint64_t seed, double std) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  LlamaWeights w;
  w.config = c;
  const auto normal = [&](const TensorSpec& s) { return at::normal(0.0, std, s.shape, gen); };
  w.embedding = normal(embedding_tensor(c));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    BlockWeights b;
    for (int t = 0; t < kBlockTensorCount; ++t) {
      const auto bt = static_cast<BlockTensor>(t);
      const TensorSpec s = block_tensor(c, l, bt);
      block_field(b, bt) = (bt == BlockTensor::InputNorm || bt == BlockTensor::PostNorm) ? at::ones(s.shape) : normal(s);
    }
    w.blocks.push_back(std::move(b));
  }
  w.final_norm = at::ones(final_norm_tensor(c).shape);
  w.lm_head = c.tie_word_embeddings ? w.embedding : normal(lm_head_tensor(c));
  return w;
}

void save_llama(const LlamaWeights& w, const std::string& model_dir, c10::ScalarType dtype) {
  LOWBIT_CHECK(w.first_block == 0 && static_cast<int64_t>(w.blocks.size()) == w.config.num_hidden_layers &&
                   w.embedding.defined() && w.lm_head.defined(),
               "save_llama(): the weights do not hold the whole model");
  std::filesystem::create_directories(model_dir);
  LlamaConfig c = w.config;
  c.torch_dtype = config_dtype(dtype);
  const DType stored = stored_dtype(dtype);
  LlamaWeights& mutable_w = const_cast<LlamaWeights&>(w);  // named_tensors only hands out pointers
  std::vector<at::Tensor> keep;                           // converted copies, alive until written
  std::vector<TensorToWrite> out;
  for (const NamedTensor& t : named_tensors(mutable_w)) {
    keep.push_back(t.tensor->detach().to(dtype).contiguous());
    out.push_back({t.name, stored, keep.back().sizes().vec(), keep.back().data_ptr()});
  }
  write_safetensors((std::filesystem::path(model_dir) / "model.safetensors").string(), out);
  const std::string config_path = (std::filesystem::path(model_dir) / "config.json").string();
  write_file_atomic(config_path, c.to_json_text());
}

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
  // A packed checkpoint (GPTQ, AWQ, compressed-tensors): its linears are read as codes and dequantized.
  const std::optional<PackedCheckpoint> packed = PackedCheckpoint::open(model_dir);
  const auto is_packed = [&](const TensorSpec& s, BlockTensor t) {
    return packed && is_linear(t) && packed->holds(model, s);
  };
  std::vector<TensorSpec> wanted;
  if (opt.embedding) wanted.push_back(embedding_tensor(c));
  for (int64_t l = opt.first_block; l < end; ++l) {
    const auto specs = block_tensors(c, l);
    for (int t = 0; t < kBlockTensorCount; ++t)
      if (!is_packed(specs[t], static_cast<BlockTensor>(t))) wanted.push_back(specs[t]);  // packed ones: checked on read
  }
  if (opt.head) {
    wanted.push_back(final_norm_tensor(c));
    wanted.push_back(lm_head_tensor(c));
  }
  check_tensors(model, wanted, config_path);
  std::set<std::string> packed_names;
  if (packed)
    for (int64_t l = 0; l < c.num_hidden_layers; ++l)
      for (int t = 0; t < kBlockTensorCount; ++t)
        if (const auto bt = static_cast<BlockTensor>(t); is_linear(bt)) {
          const std::vector<std::string> names = packed->tensor_names(block_tensor(c, l, bt));
          packed_names.insert(names.begin(), names.end());
        }
  check_no_unknown_tensors(model, c, config_path, packed_names);

  w.first_block = opt.first_block;
  if (opt.embedding) w.embedding = read_tensor(model, embedding_tensor(c), opt.dtype, opt.device);
  for (int64_t l = opt.first_block; l < end; ++l) {
    const auto specs = block_tensors(c, l);
    BlockWeights b;
    for (int t = 0; t < kBlockTensorCount; ++t) {
      const auto bt = static_cast<BlockTensor>(t);
      block_field(b, bt) = is_packed(specs[t], bt) ? packed->read(model, specs[t]).weight.to(opt.device, opt.dtype)
                                                   : read_tensor(model, specs[t], opt.dtype, opt.device);
    }
    w.blocks.push_back(std::move(b));
  }
  if (opt.head) {
    w.final_norm = read_tensor(model, final_norm_tensor(c), opt.dtype, opt.device);
    w.lm_head = (c.tie_word_embeddings && w.embedding.defined()) ? w.embedding
                                                                 : read_tensor(model, lm_head_tensor(c), opt.dtype, opt.device);
  }
  return w;
}

}  // namespace lowbit
