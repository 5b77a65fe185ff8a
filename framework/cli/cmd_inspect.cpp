// `lowbit inspect FILE|RUN_DIR`: a shard's header, its blocks (committed or not), each quantized
// linear's format and the statistics kept; for a run directory, every shard under RUN_DIR/shards.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>

#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/store/shard.h"

namespace lowbit::cli {
namespace {

namespace fs = std::filesystem;

void inspect_shard(const std::string& path) {
  const ShardReader r(path);
  const ShardHeader& h = r.header();
  fmt::print("{}\n  format {} v{}, rank {} of {}, blocks [{}, {}), method {}, built by {}\n", path, kShardFormat,
             kShardVersion, h.rank, h.world_size, h.first_block, h.end_block, h.method,
             h.build_version.empty() ? "?" : h.build_version);
  fmt::print("  model fingerprint {}, calibration fingerprint {}\n", h.model_fingerprint,
             h.calibration_fingerprint.empty() ? "-" : h.calibration_fingerprint);
  std::string config = h.method_config;
  while (!config.empty() && config.back() == '\n') config.pop_back();
  for (std::size_t p = config.find('\n'); p != std::string::npos; p = config.find('\n', p)) config.replace(p, 1, ", ");
  fmt::print("  method config: {}\n", config.empty() ? "(defaults)" : config);
  const std::vector<int64_t> done = r.committed_blocks();
  fmt::print("  committed blocks: {} of {}\n", done.size(), h.end_block - h.first_block);
  for (int64_t b : done) {
    fmt::print("  block {}\n", b);
    for (const auto& [module, q] : r.read_block(b))
      fmt::print("    {:<18} {} {}-bit group {} {} [{}, {}]{}\n", module, q.format, q.bits,
                 q.group_size ? std::to_string(q.group_size) : "per-channel", q.symmetric ? "sym" : "asym",
                 q.weight.size(0), q.weight.size(1), q.loss >= 0 ? fmt::format(" loss {:.4g}", q.loss) : "");
    for (const auto& [name, t] : r.read_stats(b)) {
      std::string shape;
      for (int64_t d : t.sizes()) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
      fmt::print("    stats/{:<12} [{}]\n", name, shape);
    }
  }
}

void run(const std::string& target) {
  if (fs::is_directory(target)) {
    const fs::path shards = fs::path(target) / "shards";
    LOWBIT_CHECK(fs::is_directory(shards), target, ": not a run directory (no shards/ inside)");
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(shards))
      if (e.path().extension() == ".h5") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    LOWBIT_CHECK(!files.empty(), shards.string(), ": no shard files");
    for (const std::string& f : files) inspect_shard(f);
    return;
  }
  inspect_shard(target);
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto target = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "Show a shard file or every shard of a run directory");
  cmd->add_option("FILE_OR_RUN_DIR", *target, "A .h5 shard or a run directory")->required();
  cmd->callback([target] { run(*target); });
}

}  // namespace lowbit::cli
