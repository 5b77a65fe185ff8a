// `lowbit train CONFIG.yaml [--stop-after-steps N]`: trains a LLaMA-architecture model from
// scratch and writes Hugging Face checkpoints; started again with the same config it resumes from
// the last checkpoint and continues bit-identically.
#include <CLI/CLI.hpp>

#include "framework/cli/commands.h"
#include "framework/train/pretrain.h"

namespace lowbit::cli {

void add_train(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto stop = std::make_shared<int64_t>(0);
  auto* cmd = app.add_subcommand("train", "Train a LLaMA-architecture model from scratch (resumes from its checkpoint)");
  cmd->add_option("CONFIG", *path, "Training YAML (see configs/train/)")->required();
  cmd->add_option("--stop-after-steps", *stop,
                  "End this run after this many optimizer steps in total, with a checkpoint (to fit a time limit)");
  cmd->callback([path, stop] { pretrain(TrainConfig::from_yaml(*path), *stop); });
}

}  // namespace lowbit::cli
