#include "framework/export/export.h"

#include <cstdio>
#include <filesystem>

#include "evaluation/eval_model.h"
#include "framework/core/error.h"
#include "framework/export/hf_export.h"
#include "framework/export/packed_export.h"
#include "framework/export/packed_formats.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

using Writer = void (*)(const EvalTarget&, const ExportOptions&, const std::string&);

struct Format {
  std::string name;
  std::string about;
  Writer write;
};

const std::vector<Format>& formats() {
  static const std::vector<Format> kFormats = [] {
    std::vector<Format> f{
        {"hf", "Hugging Face LlamaForCausalLM with the dequantized (fake-quant) weights; any method", write_hf_export}};
    for (const PackedFormat& p : packed_formats()) f.push_back({p.name, p.about, write_packed_export});
    return f;
  }();
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
    names += (names.empty() ? "" : ", ") + f.name;
    if (options.format == f.name) format = &f;
  }
  LOWBIT_CHECK(format, "--format '", options.format, "' is not an export format (", names, ")");
  const EvalTarget target = resolve_eval_target(target_path, options.model_override);
  LOWBIT_CHECK(target.quantized || !target.adapter_dir.empty() || !target.packed_format.empty(), target_path,
               ": not a lowbit run directory (manifest.json), a fine-tuning output (finetune.json) or a packed "
               "checkpoint (GPTQ, AWQ, compressed-tensors); a plain model directory needs no export");
  const fs::path out(options.out_dir), partial(options.out_dir + ".partial");
  LOWBIT_CHECK(!fs::exists(out), options.out_dir, ": exists; export writes a new directory (remove it or choose another)");
  fs::remove_all(partial);  // a previous interrupted export's leftovers
  fs::create_directories(partial);
  try {
    format->write(target, options, partial.string());
  } catch (...) {
    fs::remove_all(partial);  // a refusal leaves nothing behind (a killed export leaves OUT_DIR.partial)
    throw;
  }
  fs::rename(partial, out);
  std::printf("export: %s -> %s (%s)\n", target_path.c_str(), options.out_dir.c_str(), format->name.c_str());
}

}  // namespace lowbit
