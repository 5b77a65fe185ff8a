#include "framework/sweep/sweep.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "evaluation/eval_model.h"
#include "evaluation/results_file.h"
#include "framework/calibrate/quantize_run.h"
#include "framework/config/experiment_config.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/dist/communicator.h"
#include "framework/train/distill.h"
#include "framework/train/finetune.h"
#include "methods/method.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

// What a row may train after quantizing, by its key: each reads its YAML with the row's overrides
// (base= and output.dir= included) and runs collectively.
struct TrainingStage {
  const char* key;
  void (*run)(Communicator& comm, const std::string& config, const std::vector<std::string>& overrides);
};
const std::array<TrainingStage, 2> kTrainingStages = {{
    {"finetune",
     [](Communicator& comm, const std::string& config, const std::vector<std::string>& overrides) {
       FinetuneConfig c;
       collective_step(comm, [&] { c = FinetuneConfig::from_yaml(config, overrides); });
       finetune(c);
     }},
    {"distill",
     [](Communicator& comm, const std::string& config, const std::vector<std::string>& overrides) {
       DistillConfig c;
       collective_step(comm, [&] { c = DistillConfig::from_yaml(config, overrides); });
       distill(c);
     }},
}};
const TrainingStage* find_training_stage(const std::string& key) {
  for (const TrainingStage& t : kTrainingStages)
    if (key == t.key) return &t;
  return nullptr;
}

std::string scalar_text(const YAML::Node& n) { return YAML::Dump(n); }

// "gptq-w3-g128", "rtn-w8-pc", "smoothquant-w4a4-pc": readable and unique for the usual keys.
std::string run_name(const std::vector<std::string>& overrides) {
  std::map<std::string, std::string> kv;
  std::vector<std::string> order;
  for (const std::string& o : overrides) {
    const std::size_t eq = o.find('=');
    kv[o.substr(0, eq)] = o.substr(eq + 1);
    order.push_back(o.substr(0, eq));
  }
  std::string name = kv.count("method.name") ? kv["method.name"] : "run";
  if (kv.count("method.bits")) name += "-w" + kv["method.bits"] + (kv.count("method.a_bits") ? "a" + kv["method.a_bits"] : "");
  if (kv.count("method.group_size")) name += kv["method.group_size"] == "0" ? "-pc" : "-g" + kv["method.group_size"];
  for (const std::string& k : order) {
    if (k == "method.name" || k == "method.bits" || k == "method.a_bits" || k == "method.group_size") continue;
    std::string v = kv[k];
    for (char& c : v)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.') c = '_';
    name += "-" + k.substr(k.rfind('.') + 1) + v;
  }
  return name;
}

std::string method_of(const std::vector<std::string>& overrides, const std::string& base_method) {
  for (const std::string& o : overrides)
    if (o.rfind("method.name=", 0) == 0) return o.substr(12);
  return base_method;
}

}  // namespace

std::string Sweep::run_dir(const SweepRun& r) const { return (fs::path(runs_dir) / r.name).string(); }

Sweep Sweep::from_yaml(const std::string& path) {
  YamlSection y = load_yaml_file(path);
  Sweep s;
  s.source = path;
  s.name = y.get<std::string>("name");
  s.base = y.get<std::string>("base");
  s.runs_dir = y.get<std::string>("runs_dir");
  s.ranks = y.get<int>("ranks", 1);
  LOWBIT_CHECK(s.ranks >= 1, path, ": key 'ranks' must be >= 1");
  LOWBIT_CHECK(fs::exists(s.base), path, ": key 'base': ", s.base, " does not exist");
  const bool fp = y.get<bool>("fp", true);
  s.reuse_statistics = y.get<bool>("reuse_statistics", false);
  {
    YamlSection e = y.section("eval");
    s.eval.tasks = e.get<std::vector<std::string>>("tasks");
    s.eval.data_dir = e.get<std::string>("data_dir", s.eval.data_dir);
    s.eval.seq_len = e.get<int64_t>("seq_len", s.eval.seq_len);
    s.eval.limit = e.get<int64_t>("limit", 0);
    s.eval.micro_batch = e.get<int64_t>("micro_batch", s.eval.micro_batch);
    s.eval.c4_windows = e.get<int64_t>("c4_windows", s.eval.c4_windows);
    s.eval.tokenization = e.get<std::string>("tokenization", s.eval.tokenization);
    s.eval.device = e.get<std::string>("device", s.eval.device);
    s.eval.backend = e.get<std::string>("backend", s.eval.backend);
    e.finish();
  }
  std::vector<SweepRun> expanded;  // config, overrides (and a row's name, fine-tuning)
  if (y.has("grid")) {  // the cartesian product, keys in file order, the last key fastest
    YamlSection g = y.section("grid");
    std::vector<std::vector<std::string>> acc = {{}};
    for (const auto& kv : g.node()) {
      const std::string key = kv.first.as<std::string>();
      std::vector<std::string> values;
      if (kv.second.IsSequence()) {
        for (const auto& v : kv.second) values.push_back(key + "=" + scalar_text(v));
      } else {
        values.push_back(key + "=" + scalar_text(kv.second));
      }
      std::vector<std::vector<std::string>> next;
      for (const auto& a : acc)
        for (const auto& v : values) {
          next.push_back(a);
          next.back().push_back(v);
        }
      acc = next;
      g.get<YAML::Node>(key);  // mark as read
    }
    for (const auto& a : acc) {
      SweepRun r;
      r.config = s.base;
      r.overrides = a;
      expanded.push_back(r);
    }
  }
  if (y.has("rows")) {
    const YAML::Node rows = y.node()["rows"];
    LOWBIT_CHECK(rows.IsSequence(), path, ": key 'rows' must be a list of mappings");
    for (const auto& row : rows) {
      LOWBIT_CHECK(row.IsMap(), path, ":", row.Mark().line + 1, ": each entry of 'rows' must be a mapping of overrides");
      SweepRun r;
      r.config = s.base;
      std::vector<std::pair<std::string, std::string>> staged;  // (training stage, KEY=VALUE)
      for (const auto& kv : row) {
        const std::string key = kv.first.as<std::string>();
        const int line = kv.second.Mark().line + 1;
        const std::string prefix = key.substr(0, key.find('.'));
        const bool training_key = find_training_stage(prefix) != nullptr;
        if (key == "config" || (training_key && key == prefix)) {
          const std::string file = kv.second.as<std::string>();
          LOWBIT_CHECK(fs::exists(file), path, ":", line, ": ", key, " ", file, " does not exist");
          if (key == "config") {
            r.config = file;
          } else {
            LOWBIT_CHECK(r.training.empty(), path, ":", line, ": a row trains once ('", r.training, "' and '", key, "')");
            r.training = key;
            r.training_config = file;
          }
        } else if (key == "name") {
          r.name = kv.second.as<std::string>();
        } else if (training_key) {
          staged.emplace_back(prefix, key.substr(prefix.size() + 1) + "=" + scalar_text(kv.second));
        } else {
          r.overrides.push_back(key + "=" + scalar_text(kv.second));
        }
      }
      for (const auto& [stage, override] : staged) {  // each belongs to the row's training stage
        LOWBIT_CHECK(stage == r.training, path, ":", row.Mark().line + 1, ": ", stage, ".* keys without a '", stage,
                     "' config");
        r.training_overrides.push_back(override);
      }
      expanded.push_back(r);
    }
    y.get<YAML::Node>("rows");
  }
  y.finish();
  LOWBIT_CHECK(!expanded.empty() || fp, path, ": no runs (give 'grid' and/or 'rows')");

  if (fp) {
    SweepRun r;
    r.name = "fp";
    r.config = s.base;
    r.fp = true;
    s.runs.push_back(r);
  }
  for (SweepRun r : expanded) {
    if (r.name.empty()) r.name = run_name(r.overrides);
    try {
      // The config's own method unless the row names one.
      const std::string config_method = load_yaml_file(r.config).section("method").get<std::string>("name");
      MethodRegistry::builtin().get(method_of(r.overrides, config_method));
    } catch (const Error& e) {
      r.refused = e.what();
    }
    for (const SweepRun& other : s.runs)
      LOWBIT_CHECK(other.name != r.name, path, ": two runs are both named '", r.name, "'");
    s.runs.push_back(r);
  }
  return s;
}

std::vector<std::string> sweep_commands(const Sweep& s, const std::string& launcher) {
  LOWBIT_CHECK(launcher == "mpirun" || launcher == "sbatch", "--launcher must be mpirun or sbatch, got '", launcher, "'");
  std::vector<std::string> out;
  for (const SweepRun& r : s.runs) {
    std::string line = launcher == "mpirun"
                           ? "mpirun -np " + std::to_string(s.ranks) + " lowbit sweep " + s.source + " --only " + r.name
                           : "sbatch --job-name=lowbit-" + r.name + " --ntasks=" + std::to_string(s.ranks) +
                                 " launch/slurm/lowbit.sbatch sweep " + s.source + " --only " + r.name;
    if (!r.refused.empty()) line += "   # refused: " + r.refused;
    out.push_back(line);
  }
  return out;
}

SweepOutcome run_sweep(const Sweep& s, Communicator& comm, const std::vector<std::string>& only) {
  SweepOutcome out;
  const bool root = comm.rank() == 0;
  for (const std::string& o : only) {
    bool known = false;
    for (const SweepRun& r : s.runs) known = known || r.name == o;
    LOWBIT_CHECK(known, s.source, ": no run named '", o, "' (lowbit sweep --dry-run lists them)");
  }
  std::size_t index = 0;
  for (const SweepRun& r : s.runs) {
    ++index;
    if (!only.empty() && std::find(only.begin(), only.end(), r.name) == only.end()) continue;
    const std::string dir = s.run_dir(r), results = (fs::path(dir) / "results.json").string();
    if (root) std::printf("\n== sweep %s: run %zu/%zu %s\n", s.name.c_str(), index, s.runs.size(), r.name.c_str());
    if (fs::exists(results)) {
      if (root) std::printf("skipped: %s exists\n", results.c_str());
      out.skipped.push_back(r.name);
      continue;
    }
    if (!r.refused.empty()) {
      if (root) std::printf("refused: %s\n", r.refused.c_str());
      out.failed.push_back(r.name + ": " + r.refused);
      continue;
    }
    try {
      EvalTarget target;
      if (r.fp) {
        ExperimentConfig base;
        collective_step(comm, [&] { base = ExperimentConfig::from_yaml(s.base); });
        collective_step(comm, [&] { target = resolve_eval_target(base.model.path); });
      } else {
        ExperimentConfig cfg;
        std::vector<std::string> o = r.overrides;
        const std::string quantized = r.training.empty() ? dir : (fs::path(dir) / "quantized").string();
        o.push_back("output.run_dir=" + quantized);
        if (s.reuse_statistics) o.push_back("output.statistics_cache=" + (fs::path(s.runs_dir) / "statistics").string());
        collective_step(comm, [&] { cfg = ExperimentConfig::from_yaml(r.config, o); });
        quantize_run(cfg);
        comm.barrier();  // rank 0 writes the manifest after the other ranks have finished
        if (!r.training.empty()) {
          std::vector<std::string> to = r.training_overrides;
          to.push_back("base=" + quantized);
          to.push_back("output.dir=" + dir);
          find_training_stage(r.training)->run(comm, r.training_config, to);
        }
        collective_step(comm, [&] { target = resolve_eval_target(dir); });
      }
      const nlohmann::json res = evaluate(target, s.eval, comm);
      if (root) {
        fs::create_directories(dir);
        write_results(results, res);
        std::printf("results: %s\n", results.c_str());
      }
      out.done.push_back(r.name);
    } catch (const CollectiveError& e) {  // every rank agreed on it: report and go on
      if (root) std::printf("failed: %s\n", e.what());
      out.failed.push_back(r.name + ": " + e.what());
    }
    std::fflush(stdout);
  }
  return out;
}

}  // namespace lowbit
