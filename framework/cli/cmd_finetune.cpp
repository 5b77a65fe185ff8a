// `lowbit finetune CONFIG.yaml [key=value ...] [--stop-after-steps N]`: LoRA fine-tuning (QLoRA,
// IR-QLoRA) of a quantized run or a plain model on instruction data; `mpirun -np P` trains
// data-parallel. Started again with the same config it resumes from its checkpoint.
#include <CLI/CLI.hpp>

#include "framework/cli/commands.h"
#include "framework/dist/communicator.h"
#include "framework/train/finetune.h"

namespace lowbit::cli {

void add_finetune(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto stop = std::make_shared<int64_t>(0);
  auto* cmd = app.add_subcommand(
      "finetune", "Train LoRA adapters (QLoRA / IR-QLoRA) on a frozen quantized run or model (resumes from its checkpoint)");
  cmd->add_option("CONFIG", *path, "Fine-tuning YAML (see configs/finetune/)")->required();
  cmd->add_option("OVERRIDES", *overrides, "key=value settings applied to the YAML first, e.g. training.steps=100 lora.iec=true");
  cmd->add_option("--stop-after-steps", *stop,
                  "End this run after this many optimizer steps in total, with a checkpoint (to fit a time limit)");
  cmd->footer(
      "Writes OUTPUT_DIR/adapter (PEFT's adapter_config.json + adapter_model.safetensors) and OUTPUT_DIR/finetune.json; "
      "`lowbit eval OUTPUT_DIR` evaluates the base with the adapters merged. With mpirun -np P each rank takes "
      "batch_size/P examples of every batch (batch_size must be a multiple of P x micro_batch). docs/fine-tuning.md.");
  cmd->callback([path, overrides, stop] {
    FinetuneConfig cfg;
    collective_step(world(), [&] { cfg = FinetuneConfig::from_yaml(*path, *overrides); });
    finetune(cfg, *stop);
  });
}

}  // namespace lowbit::cli
