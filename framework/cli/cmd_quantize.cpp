// `lowbit quantize CONFIG.yaml [key=value ...]`: calibrate and quantize a model block by block into
// RUN_DIR/shards (resuming from committed blocks), then write RUN_DIR/manifest.json.
#include <CLI/CLI.hpp>

#include "framework/calibrate/quantize_run.h"
#include "framework/cli/commands.h"
#include "framework/dist/communicator.h"

namespace lowbit::cli {

void add_quantize(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a model with an experiment config (resumes an interrupted run)");
  cmd->add_option("CONFIG", *path, "Experiment YAML (see configs/experiments/)")->required();
  cmd->add_option("OVERRIDES", *overrides,
                  "key=value settings applied to the YAML first, e.g. method.bits=3, distributed.device=cuda "
                  "(auto|cpu|cuda; one rank per GPU), distributed.backend=mpi (auto|mpi|nccl), "
                  "distributed.activations=float32 (model|float32); docs/devices.md");
  cmd->footer(
      "Everything checkable from the config and the model's shapes is checked before RUN_DIR is created. One quantize "
      "per RUN_DIR: rank 0 holds RUN_DIR/.lowbit-quantize.lock (a lock of a killed job on this host is taken over "
      "with a warning). docs/reliability.md.");
  cmd->callback([path, overrides] {
    ExperimentConfig cfg;
    collective_step(world(), [&] { cfg = ExperimentConfig::from_yaml(*path, *overrides); });
    quantize_run(cfg);
  });
}

}  // namespace lowbit::cli
