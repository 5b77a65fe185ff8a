// `lowbit distill CONFIG.yaml [key=value ...] [--stop-after-steps N]`: DB-LLM's stage 2, the scales of
// a db-llm run trained end to end against its full-precision model (deviation-aware distillation);
// `mpirun -np P` trains data-parallel. Started again with the same config it resumes.
#include <CLI/CLI.hpp>

#include "framework/cli/commands.h"
#include "framework/dist/communicator.h"
#include "framework/train/distill.h"

namespace lowbit::cli {

void add_distill(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto stop = std::make_shared<int64_t>(0);
  auto* cmd = app.add_subcommand(
      "distill",
      "Train a db-llm run's dual-binary scales against its full-precision model (DB-LLM stage 2; resumes from its "
      "checkpoint)");
  cmd->add_option("CONFIG", *path, "Distillation YAML (see configs/distill/)")->required();
  cmd->add_option("OVERRIDES", *overrides, "key=value settings applied to the YAML first, e.g. training.steps=100 loss=kl");
  cmd->add_option("--stop-after-steps", *stop,
                  "End this run after this many optimizer steps in total, with a checkpoint (to fit a time limit)");
  cmd->footer(
      "Every rank holds the whole teacher (the run's base model) and student (the run's planes, trainable scales). "
      "loss: dad (each token's KL weighted by the product of the teacher's and student's normalized prediction "
      "entropies) or kl. Writes OUTPUT_DIR/scales.safetensors and OUTPUT_DIR/distill.json; `lowbit eval OUTPUT_DIR` "
      "evaluates the run with the trained scales. With mpirun -np P, batch_size must be a multiple of P x "
      "micro_batch. docs/methods/db-llm.md.");
  cmd->callback([path, overrides, stop] {
    DistillConfig cfg;
    collective_step(world(), [&] { cfg = DistillConfig::from_yaml(*path, *overrides); });
    distill(cfg, *stop);
  });
}

}  // namespace lowbit::cli
