// The files every export writes beside its weights, and the sharded safetensors writer they share:
// a Hugging Face directory's model.safetensors (or model-0000i-of-0000N.safetensors + index),
// config.json (the base model's, dtype and quantization_config set), the tokenizer files, the
// model card and lowbit_export.json (provenance).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluation/eval_model.h"
#include "framework/model/safetensors_writer.h"

namespace lowbit {

// Fills a TensorToWrite's `bytes` with tensor `t` (any device and layout; cast to `dtype` first),
// checking the size the header promised; `name` for the message.
void copy_tensor_bytes(const at::Tensor& t, c10::ScalarType dtype, std::string& bytes, const std::string& name);

// Writes `tensors` in order into files of at most `shard_bytes` (a tensor larger than that gets a
// file of its own); one file is model.safetensors, several get model.safetensors.index.json.
void write_checkpoint_tensors(const std::string& dir, const std::vector<TensorToWrite>& tensors, uint64_t shard_bytes);

// The base model's config.json with its dtype set to `dtype`; `quantization_config` replaced by
// `quantization` (removed when null).
nlohmann::json export_config(const std::string& model_dir, c10::ScalarType dtype,
                             const nlohmann::json& quantization = nullptr);

// tokenizer.json, tokenizer_config.json, special_tokens_map.json, generation_config.json and
// tokenizer.model, those the model directory has.
void copy_tokenizer_files(const std::string& model_dir, const std::string& dir);

// lowbit_export.json: what was exported, from what (paths, fingerprints, method settings, adapters).
nlohmann::json export_provenance(const EvalTarget& t, const std::string& format, c10::ScalarType dtype);

}  // namespace lowbit
