// LoRA adapters as Hugging Face PEFT saves them: a directory with adapter_config.json and
// adapter_model.safetensors (tensor names "base_model.model.model.layers.{L}.{module}.lora_A.weight",
// IR-QLoRA's IEC scalars as "...lora_default_A_scale"), so `peft` loads lowbit's adapters onto a
// transformers model and lowbit loads adapters PEFT trained.
#pragma once

#include <string>

#include "framework/model/llama_config.h"
#include "framework/train/lora.h"

namespace lowbit {

// Writes DIR/adapter_config.json and DIR/adapter_model.safetensors (fp32); DIR is created.
void save_peft_adapter(const std::string& dir, const LoraModel& lora, const std::string& base_model_name);

// Reads a PEFT LoRA adapter directory for a model of `model`'s architecture. Refused, naming the
// file and the field or tensor: another PEFT type, features lowbit does not apply (DoRA, bias,
// fan_in_fan_out, per-layer patterns, modules_to_save, regex targets), a pickled
// adapter_model.bin, missing/extra tensors, wrong shapes. use_rslora is honoured (alpha/√r).
LoraModel load_peft_adapter(const std::string& dir, const LlamaConfig& model, c10::Device device = c10::kCPU);

// True when DIR holds adapter_config.json.
bool is_peft_adapter_dir(const std::string& dir);

}  // namespace lowbit
