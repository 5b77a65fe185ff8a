// Experiment sweeps (`lowbit sweep SWEEP.yaml`): a base experiment config plus a grid and/or a
// list of rows of `key=value` overrides, expanded into named runs that quantize (then, for a row
// with `finetune:` or `distill:`, train on the quantized run) and evaluate one after another inside one mpirun job
// (or are printed one command per run for a scheduler). A row may name its run (`name:`).
// A run whose RUN_DIR/results.json exists is skipped, so an interrupted sweep started again
// completes only what is missing; a run that fails in a set-up step (an unknown method, a bad
// override, missing data) is reported and the sweep goes on.
#pragma once

#include <string>
#include <vector>

#include "evaluation/evaluate.h"

namespace lowbit {

class Communicator;

struct SweepRun {
  std::string name;                     // the run's directory under runs_dir
  std::string config;                   // the experiment config it starts from (a row's `config`, else the sweep's base)
  std::vector<std::string> overrides;   // applied to that config
  bool fp = false;                      // the unquantized model (evaluation only)
  // Training after quantization: a row's `finetune: CONFIG` (LoRA adapters, `lowbit finetune`) or
  // `distill: CONFIG` (DB-LLM's stage 2, `lowbit distill`), with its `finetune.KEY` / `distill.KEY`
  // overrides: the run quantizes into RUN_DIR/quantized, trains on it into RUN_DIR, evaluates RUN_DIR.
  std::string training;                 // "" | "finetune" | "distill"
  std::string training_config;
  std::vector<std::string> training_overrides;
  std::string refused;                  // why it cannot run (e.g. "method 'awq' is not available yet")
};

struct Sweep {
  std::string source;    // the sweep YAML
  std::string name;
  std::string base;      // the experiment config every run starts from
  std::string runs_dir;  // RUN_DIR of run N is runs_dir/N
  int ranks = 1;         // world size the printed commands ask for
  bool reuse_statistics = false;  // full-precision runs share Hessians through runs_dir/statistics
  EvalSettings eval;
  std::vector<SweepRun> runs;

  // Reads and expands the YAML; checks every run's method against the registry (refused runs are
  // kept, with the reason).
  static Sweep from_yaml(const std::string& path);
  std::string run_dir(const SweepRun& r) const;
};

// One command per run (`mpirun -np R lowbit sweep FILE --only NAME` or the sbatch template's line);
// refused runs carry the reason as a trailing comment.
std::vector<std::string> sweep_commands(const Sweep& s, const std::string& launcher);

struct SweepOutcome {
  std::vector<std::string> done, skipped, failed;  // run names (failed: "name: reason")
};

// Collective: runs the runs (all, or only `only` when not empty) in order.
SweepOutcome run_sweep(const Sweep& s, Communicator& comm, const std::vector<std::string>& only = {});

}  // namespace lowbit
