#include "framework/export/hf_export.h"

#include "framework/export/checkpoint_files.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/dist/partition_plan.h"
#include "framework/model/llama_arch.h"
#include "framework/model/safetensors_writer.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The block a tensor belongs to ("model.layers.7.mlp.up_proj.weight" -> 7), or -1.
int64_t block_of(const std::string& name) {
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  return std::stoll(name.substr(prefix.size(), name.find('.', prefix.size()) - prefix.size()));
}

// The part of the model that holds a tensor, loaded one part at a time (a block, or the embedding +
// final norm + head), as evaluation loads it: quantized blocks dequantized, adapters merged.
class PartLoader {
 public:
  PartLoader(const EvalTarget& t, int64_t blocks) : target_(t), blocks_(blocks) {}

  at::Tensor tensor(const std::string& name) {
    const int64_t block = block_of(name);
    if (block != loaded_) {
      RankPlan plan;
      if (block >= 0) {
        plan.first_block = block;
        plan.end_block = block + 1;
      } else {
        plan.embedding = plan.head = true;
      }
      const auto t0 = std::chrono::steady_clock::now();
      part_ = load_eval_part(target_, plan);
      by_name_.clear();
      for (const NamedTensor& n : named_tensors(part_)) by_name_[n.name] = n.tensor;
      loaded_ = block;
      if (block >= 0) {
        std::printf("export: block %lld/%lld dequantized in %.2f s\n", static_cast<long long>(block + 1),
                    static_cast<long long>(blocks_),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::fflush(stdout);
        // Fault injection for the interrupted-export test: die like a killed job in the middle.
        if (const char* kill_after = std::getenv("LOWBIT_TEST_KILL_EXPORT_AT_BLOCK");
            kill_after && std::atoll(kill_after) == block)
          ::kill(::getpid(), SIGKILL);
      }
    }
    const auto it = by_name_.find(name);
    LOWBIT_ASSERT(it != by_name_.end(), "export: no tensor ", name, " in the loaded part");
    return *it->second;
  }

 private:
  const EvalTarget& target_;
  int64_t blocks_;
  int64_t loaded_ = -2;
  LlamaWeights part_;
  std::map<std::string, at::Tensor*> by_name_;
};

std::string model_card(const EvalTarget& t, const std::string& dtype) {
  std::string s = fmt::format("# {} — {} (fake-quantized export by lowbit)\n\n", t.model_name,
                              t.quantized ? t.method : std::string("fine-tuned"));
  s += fmt::format(
      "The weights of this LlamaForCausalLM are lowbit's dequantized weights of a quantized run, stored in {}: "
      "every linear of every decoder block holds exactly the values lowbit evaluates (a fake-quant model, not a "
      "packed low-bit checkpoint). Embedding, norms and head are the base model's.\n\n",
      dtype);
  if (t.quantized) s += fmt::format("- method: `{}`\n- method settings:\n\n```yaml\n{}\n```\n", t.method, t.method_config);
  if (!t.scales_file.empty())
    s += fmt::format("- dual-binary scales trained end to end by `lowbit distill` ({}): DB-LLM's stage 2\n", t.finetune);
  else if (!t.finetune.empty())
    s += fmt::format("- LoRA adapters ({}) merged into the weights: W + (alpha/r)·B·A{}\n", t.finetune,
                     t.finetune == "lora+iec" ? " (+ IR-QLoRA's IEC terms)" : "");
  if (t.activations.enabled())
    s += fmt::format(
        "\n**Activations are not quantized by transformers.** This method also quantizes activations ({}-bit) in "
        "lowbit's forward pass; loaded in transformers these weights run with full-precision activations, so its "
        "numbers differ from lowbit's evaluation.\n",
        t.activations.bits);
  s += "\nProvenance (base model and run fingerprints): lowbit_export.json.\n";
  return s;
}

}  // namespace

void write_hf_export(const EvalTarget& t, const ExportOptions& o, const std::string& dir) {
  const fs::path base(t.model_dir), out(dir);
  const std::string config_path = (base / "config.json").string();
  const LlamaConfig c = LlamaConfig::from_file(config_path);
  LOWBIT_CHECK(!c.multimodal(), config_path, ": a ", c.model_type,
               " checkpoint: lowbit exports LlamaForCausalLM models only (the vision tower would be left out)");
  const std::string dtype_name = o.dtype.empty() ? c.torch_dtype : o.dtype;
  const c10::ScalarType dtype = float_dtype(dtype_name, o.dtype.empty() ? config_path + ": dtype" : "--dtype");
  const DType stored = stored_dtype(dtype);

  PartLoader loader(t, c.num_hidden_layers);
  std::vector<TensorToWrite> tensors;
  for (const TensorSpec& s : all_tensors(c))
    tensors.push_back({s.name, stored, s.shape, nullptr, [&loader, name = s.name, dtype](std::string& bytes) {
                         copy_tensor_bytes(loader.tensor(name), dtype, bytes, name);
                       }});
  write_checkpoint_tensors(dir, tensors, o.shard_bytes);
  write_file_atomic((out / "config.json").string(), export_config(t.model_dir, dtype).dump(2) + "\n");
  copy_tokenizer_files(t.model_dir, dir);
  write_file_atomic((out / "README.md").string(), model_card(t, float_dtype_name(dtype)));
  write_file_atomic((out / "lowbit_export.json").string(), export_provenance(t, "hf", dtype).dump(2) + "\n");
}

}  // namespace lowbit
