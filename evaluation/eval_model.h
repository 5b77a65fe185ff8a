// What an evaluation reads: a plain Hugging Face model directory (the unquantized model), or a
// lowbit run directory (manifest.json + shards) over its base model, whose blocks then carry the
// dequantized (fake-quant) weights of the method. Each rank loads only what its part of the
// pipeline needs.
#pragma once

#include <string>

#include "framework/dist/partition_plan.h"
#include "framework/model/llama_weights.h"
#include "framework/store/run_manifest.h"
#include "methods/method.h"

namespace lowbit {

struct EvalTarget {
  std::string path;            // as given: a run directory or a model directory
  bool quantized = false;      // a run directory
  std::string model_dir;       // the weights (the run's base model)
  std::string model_name;
  std::string model_fingerprint;
  std::string method;          // "" for the unquantized model
  std::string method_config;   // the run's method section (YAML text)
  std::string run_fingerprint; // the run's calibration fingerprint ("" unquantized)
  RunManifest manifest;        // a run's, checked with its shards' headers (empty unquantized)
  ActivationQuant activations; // the run's forward spec (of its first block; off unquantized)
  // A `lowbit finetune` output over this base: its PEFT adapter directory, merged into the weights.
  std::string adapter_dir;     // "" without adapters
  // What training on top of the run there was: "" | "lora" | "lora+iec" (IR-QLoRA's IEC) |
  // "distill-dad" | "distill-kl" (DB-LLM's stage 2: trained dual-binary scales, `lowbit distill`).
  std::string finetune;
  std::string finetune_fingerprint;  // the fine-tuning's settings and base (finetune.json / distill.json)
  // A `lowbit distill` output over this run: its trained scales file (checked against distill.json's
  // XXH64), put into the run's dual_binary linears as they are read; "" otherwise.
  std::string scales_file;
  // A model directory holding a packed checkpoint (framework/export/packed_checkpoint): its format
  // ("gptq", "awq", "compressed-tensors"), its linears dequantized on load; "" otherwise.
  std::string packed_format;
};

// Resolves `path`: a run directory, a model directory, a `lowbit finetune` output directory
// (finetune.json: its base resolved as above, the adapter on top), or a `lowbit distill` output
// directory (distill.json: its base run with the trained scales). For a run, the base model is the manifest's unless `model_override` is given;
// either way its fingerprint must equal the run's (else refused, naming both), and every shard's
// header must agree with the manifest (framework/store/run_manifest.h).
EvalTarget resolve_eval_target(const std::string& path, const std::string& model_override = "");

// A run's quantized block `block` (its artifacts, replaced parameters and forward spec) from the
// shard that holds it, checked against the manifest; every linear must be there.
QuantizedBlock read_run_block(const EvalTarget& t, int64_t block);

// Puts a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors: lowbit's or
// one PEFT trained) on top of `t`: evaluation merges it into the weights. `lowbit eval --adapter`.
void attach_adapter(EvalTarget& t, const std::string& adapter_dir);

// This rank's part of the model (`plan` from make_partition_plan over the model's config), with the
// run's quantized blocks in place, in `dtype` on `device` (loaded tensor by tensor). Every shard read
// is checked against the model's fingerprint.
LlamaWeights load_eval_part(const EvalTarget& target, const RankPlan& plan, c10::Device device = c10::kCPU,
                            c10::ScalarType dtype = c10::ScalarType::Float);

}  // namespace lowbit
