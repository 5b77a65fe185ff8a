// `mpirun -np P lowbit sweep SWEEP.yaml [--only NAME ...] [--dry-run [--launcher mpirun|sbatch]]`:
// the sweep's runs one after another in this job (skipping finished ones), or one command per run.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "evaluation/evaluate.h"
#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/dist/communicator.h"
#include "framework/sweep/sweep.h"

namespace lowbit::cli {

void add_sweep(CLI::App& app) {
  struct Args {
    std::string path, launcher = "mpirun";
    std::vector<std::string> only;
    bool dry_run = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("sweep", "Run an experiment sweep: quantize + evaluate each run, skipping finished ones");
  cmd->add_option("SWEEP", a->path, "Sweep YAML (see configs/sweeps/)")->required();
  cmd->add_option("--only", a->only, "Run only these runs (by name; repeatable)");
  cmd->add_flag("--dry-run", a->dry_run, "Print one command per run (for a scheduler) instead of running");
  cmd->add_option("--launcher", a->launcher, "Commands printed by --dry-run: mpirun or sbatch")->capture_default_str();
  cmd->callback([a] {
    Communicator& comm = world();
    Sweep s;
    collective_step(comm, [&] { s = Sweep::from_yaml(a->path); });
    if (a->dry_run) {
      if (comm.rank() != 0) return;
      std::printf("# %s: %zu runs (results under %s)\n", s.name.c_str(), s.runs.size(), s.runs_dir.c_str());
      for (const std::string& line : sweep_commands(s, a->launcher)) std::printf("%s\n", line.c_str());
      return;
    }
    const SweepOutcome out = run_sweep(s, comm, a->only);
    if (comm.rank() != 0) return;
    std::vector<nlohmann::json> results;
    for (const SweepRun& r : s.runs) {
      const std::string f = s.run_dir(r) + "/results.json";
      if (std::filesystem::exists(f)) results.push_back(parse_json_object(read_file(f), f));
    }
    std::printf("\n== sweep %s: %zu done, %zu skipped (already done), %zu failed\n", s.name.c_str(), out.done.size(),
                out.skipped.size(), out.failed.size());
    for (const std::string& f : out.failed) std::printf("failed: %s\n", f.c_str());
    if (!results.empty()) std::printf("\n%s", summary_table(results).c_str());
    if (!out.failed.empty()) throw CollectiveError(std::to_string(out.failed.size()) + " run(s) of the sweep failed");
  });
}

}  // namespace lowbit::cli
