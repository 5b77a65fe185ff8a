// `lowbit export RUN_DIR --format F OUT_DIR`: a run (or a fine-tuning output) in a format other
// tools load; block by block, into OUT_DIR.partial renamed when complete.
#include <CLI/CLI.hpp>

#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/core/units.h"
#include "framework/export/export.h"

namespace lowbit::cli {

void add_export(CLI::App& app) {
  struct Args {
    std::string target, shard_size = "5GB";
    ExportOptions o;
  };
  auto a = std::make_shared<Args>();
  std::string formats;
  for (const auto& [name, about] : export_formats()) formats += "\n  " + name + ": " + about;
  auto* cmd = app.add_subcommand("export", "Write a quantized run in a format other tools load (Hugging Face, GPTQ, AWQ, compressed-tensors)");
  cmd->add_option("RUN_DIR", a->target, "A lowbit run directory, a `lowbit finetune` output (adapters merged; hf only) or a packed checkpoint "
                  "(GPTQ, AWQ, compressed-tensors: re-exported)")->required();
  cmd->add_option("OUT_DIR", a->o.out_dir, "The directory to create (must not exist)")->required();
  cmd->add_option("--format", a->o.format, "Export format:" + formats)->required();
  cmd->add_option("--dtype", a->o.dtype,
                  "hf: float32 | bfloat16 | float16 (default: the base model's dtype); gptq, awq: float16; "
                  "compressed-tensors: float16 (default) | bfloat16");
  cmd->add_option("--gptq-format", a->o.gptq_format,
                  "gptq zero points: v1 (stored minus one, what vLLM reads) or v2 (as they are); default v1 for "
                  "symmetric codes, v2 for asymmetric ones (a zero point 0 has no v1 encoding)")
      ->check(CLI::IsMember({"v1", "v2"}));
  cmd->add_option("--shard-size", a->shard_size, "Largest safetensors file, e.g. 5GB, 500MiB (one tensor larger than that gets a file of its own)")->capture_default_str();
  cmd->add_option("--model", a->o.model_override, "Base model directory of the run (default: the one in its manifest)");
  cmd->footer("Nothing in OUT_DIR until it is complete: the export streams into OUT_DIR.partial (one block at a "
              "time in memory) and renames it at the end. docs/exports.md.");
  cmd->callback([a] {
    a->o.shard_bytes = parse_bytes(a->shard_size, "--shard-size");
    export_run(a->target, a->o);
  });
}

}  // namespace lowbit::cli
