#include "framework/export/checkpoint_files.h"

#include <fmt/format.h>

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>

#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit {

namespace fs = std::filesystem;
using nlohmann::json;

void copy_tensor_bytes(const at::Tensor& t, c10::ScalarType dtype, std::string& bytes, const std::string& name) {
  const at::Tensor v = t.to(at::kCPU, dtype).contiguous();
  LOWBIT_ASSERT(static_cast<std::size_t>(v.nbytes()) == bytes.size(), "export: ", name, " has ", v.nbytes(),
                " bytes, expected ", bytes.size());
  std::memcpy(bytes.data(), v.data_ptr(), bytes.size());
}

void write_checkpoint_tensors(const std::string& dir, const std::vector<TensorToWrite>& tensors, uint64_t shard_bytes) {
  std::vector<std::vector<const TensorToWrite*>> files(1);
  uint64_t in_file = 0, total = 0;
  for (const TensorToWrite& t : tensors) {
    uint64_t bytes = dtype_size(t.dtype);
    for (int64_t d : t.shape) bytes *= static_cast<uint64_t>(d);
    if (in_file > 0 && in_file + bytes > shard_bytes) {
      files.emplace_back();
      in_file = 0;
    }
    files.back().push_back(&t);
    in_file += bytes;
    total += bytes;
  }
  json weight_map = json::object();
  for (std::size_t f = 0; f < files.size(); ++f) {
    const std::string name = files.size() == 1 ? "model.safetensors"
                                               : fmt::format("model-{:05d}-of-{:05d}.safetensors", f + 1, files.size());
    std::vector<TensorToWrite> in_this;
    for (const TensorToWrite* t : files[f]) {
      weight_map[t->name] = name;
      in_this.push_back(*t);
    }
    write_safetensors((fs::path(dir) / name).string(), in_this, {{"format", "pt"}});
  }
  if (files.size() > 1)
    write_file_atomic((fs::path(dir) / "model.safetensors.index.json").string(),
                      json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) + "\n");
}

json export_config(const std::string& model_dir, c10::ScalarType dtype, const json& quantization) {
  const std::string path = (fs::path(model_dir) / "config.json").string();
  json config = parse_json_object(read_file(path), path);  // every field as it was
  bool set = false;
  for (const char* key : {"dtype", "torch_dtype"})
    if (config.contains(key)) config[key] = float_dtype_name(dtype), set = true;
  if (!set) config["torch_dtype"] = float_dtype_name(dtype);
  config.erase("quantization_config");
  if (!quantization.is_null()) config["quantization_config"] = quantization;
  return config;
}

void copy_tokenizer_files(const std::string& model_dir, const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                           "tokenizer.model"})
    if (fs::exists(fs::path(model_dir) / name)) fs::copy_file(fs::path(model_dir) / name, fs::path(dir) / name);
}

json export_provenance(const EvalTarget& t, const std::string& format, c10::ScalarType dtype) {
  return {{"format", "lowbit-export"},
          {"version", 1},
          {"export_format", format},
          {"source", fs::absolute(t.path).lexically_normal().string()},
          {"model", t.model_name},
          {"model_fingerprint", t.model_fingerprint},
          {"method", t.method},
          {"method_config", t.method_config},
          {"calibration_fingerprint", t.run_fingerprint},
          {"finetune", t.finetune},
          {"finetune_fingerprint", t.finetune_fingerprint},
          {"dtype", float_dtype_name(dtype)},
          {"activations_quantized_in_lowbit", t.activations.enabled()}};
}

}  // namespace lowbit
