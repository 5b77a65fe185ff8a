#include "framework/export/export.h"

#include <cstdio>
#include <filesystem>

#include "evaluation/eval_model.h"
#include "framework/core/error.h"
#include "framework/export/hf_export.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

using Writer = void (*)(const EvalTarget&, const ExportOptions&, const std::string&);

struct Format {
  const char* name;
  const char* about;
  Writer write;  // null: listed, not available yet
};

const std::vector<Format>& formats() {
  static const std::vector<Format> kFormats{
      {"hf", "Hugging Face LlamaForCausalLM with the dequantized (fake-quant) weights; any method", write_hf_export},
      {"gptq", "GPTQ checkpoint (packed int32 qweight/qzeros, fp16 scales, g_idx): not available yet", nullptr},
      {"awq", "AutoAWQ GEMM checkpoint: not available yet", nullptr},
      {"compressed-tensors", "compressed-tensors pack-quantized (vLLM): not available yet", nullptr},
  };
  return kFormats;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> export_formats() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Format& f : formats()) out.emplace_back(f.name, f.about);
  return out;
}

void export_run(const std::string& target_path, const ExportOptions& options) {
  const Format* format = nullptr;
  std::string names;
  for (const Format& f : formats()) {
    names += (names.empty() ? "" : ", ") + std::string(f.name);
    if (options.format == f.name) format = &f;
  }
  LOWBIT_CHECK(format, "--format '", options.format, "' is not an export format (", names, ")");
  LOWBIT_CHECK(format->write, "--format ", format->name, ": ", format->about);
  const EvalTarget target = resolve_eval_target(target_path, options.model_override);
  LOWBIT_CHECK(target.quantized || !target.adapter_dir.empty(), target_path,
               ": not a lowbit run directory (manifest.json) or fine-tuning output (finetune.json); a plain model "
               "directory needs no export");
  const fs::path out(options.out_dir), partial(options.out_dir + ".partial");
  LOWBIT_CHECK(!fs::exists(out), options.out_dir, ": exists; export writes a new directory (remove it or choose another)");
  fs::remove_all(partial);  // a previous interrupted export's leftovers
  fs::create_directories(partial);
  format->write(target, options, partial.string());
  fs::rename(partial, out);
  std::printf("export: %s -> %s (%s)\n", target_path.c_str(), options.out_dir.c_str(), format->name);
}

}  // namespace lowbit
