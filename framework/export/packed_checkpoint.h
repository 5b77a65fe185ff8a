// Import of packed checkpoints (GPTQ, AWQ GEMM, compressed-tensors pack-quantized; the formats of
// framework/export/packed_formats): a model directory whose config.json has a `quantization_config`
// one of them can read. load_llama reads each packed linear through it as a "uniform" artifact and
// uses its dequantized weight, so `lowbit eval`, `lowbit logits`, `lowbit quantize`'s model and
// `lowbit export` take such a directory as they take a plain one. Every tensor is checked (present,
// dtype, shape, value ranges) and a refusal names the file and the tensor.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "framework/export/packed_formats.h"
#include "framework/model/llama_arch.h"

namespace lowbit {

class SafetensorsModel;

class PackedCheckpoint {
 public:
  // The packed format of MODEL_DIR (config.json's quantization_config, or an AutoGPTQ-era
  // quantize_config.json); nullopt for a plain model. Refuses a quantization_config lowbit cannot
  // read, naming the file and the field.
  static std::optional<PackedCheckpoint> open(const std::string& model_dir);

  const PackedFormat& format() const { return *format_; }
  const PackedScheme& scheme() const { return scheme_; }
  // Whether the linear `weight` ("model.layers.3.mlp.up_proj.weight", [out, in]) is stored packed
  // (its first packed tensor exists); otherwise the checkpoint holds it as a plain weight (a module
  // the quantizer left alone: `ignore`, `modules_to_not_convert`).
  bool holds(const SafetensorsModel& model, const TensorSpec& weight) const;
  // The names of its packed tensors ("model.layers.3.mlp.up_proj.qweight", ...).
  std::vector<std::string> tensor_names(const TensorSpec& weight) const;
  // The linear as a finished "uniform" artifact (its weight dequantized in fp32).
  QuantizedLinear read(SafetensorsModel& model, const TensorSpec& weight) const;

 private:
  const PackedFormat* format_ = nullptr;
  PackedScheme scheme_;
};

}  // namespace lowbit
