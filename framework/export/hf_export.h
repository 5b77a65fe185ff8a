// The `hf` export: a Hugging Face LlamaForCausalLM directory with the run's dequantized (fake-quant)
// weights in the base model's dtype (or the one asked for) — what the study released for most
// methods. config.json is the base model's with its dtype set, tokenizer files are copied, the
// weights are sharded safetensors with model.safetensors.index.json (one file when they fit), and
// README.md says what the weights are (and that transformers does not quantize activations).
#pragma once

#include <string>

#include "evaluation/eval_model.h"
#include "framework/export/export.h"

namespace lowbit {

// Writes into `dir` (which exists and is empty).
void write_hf_export(const EvalTarget& target, const ExportOptions& options, const std::string& dir);

}  // namespace lowbit
