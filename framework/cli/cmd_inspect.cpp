// `lowbit inspect FILE|RUN_DIR`: a shard's header, its blocks (committed or not), each quantized
// linear's format and the statistics kept; for a run directory, every shard of its manifest, and
// then the verdict: every shard header against the manifest, every block read back (checksums,
// code ranges). Exits non-zero, saying what is wrong, when the run cannot be trusted.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/store/run_manifest.h"
#include "framework/store/shard.h"
#include "methods/common/artifact_formats.h"

namespace lowbit::cli {
namespace {

namespace fs = std::filesystem;

// "1: 10.0%, 2: 80.0%, 3: 10.0%"
std::string describe_widths(const std::map<int, double>& widths) {
  std::string s;
  for (const auto& [bits, share] : widths) s += fmt::format("{}{}: {:.1f}%", s.empty() ? "" : ", ", bits, 100 * share);
  return s;
}

void inspect_shard(const std::string& path) {
  const ShardReader r(path);
  const ShardHeader& h = r.header();
  fmt::print("{}\n  format {} v{}, rank {} of {}, blocks [{}, {}), method {}, built by {}\n", path, kShardFormat,
             h.version, h.rank, h.world_size, h.first_block, h.end_block, h.method,
             h.build_version.empty() ? "?" : h.build_version);
  fmt::print("  model fingerprint {}, calibration fingerprint {}\n", h.model_fingerprint,
             h.calibration_fingerprint.empty() ? "-" : h.calibration_fingerprint);
  std::string config = h.method_config;
  while (!config.empty() && config.back() == '\n') config.pop_back();
  for (std::size_t p = config.find('\n'); p != std::string::npos; p = config.find('\n', p)) config.replace(p, 1, ", ");
  fmt::print("  method config: {}\n", config.empty() ? "(defaults)" : config);
  const std::vector<int64_t> done = r.committed_blocks();
  fmt::print("  committed blocks: {} of {}\n", done.size(), h.end_block - h.first_block);
  std::map<int, double> shard_widths;  // weights per payload width, over the shard
  double weights = 0, bits = 0;
  for (int64_t b : done) {
    const QuantizedBlock block = r.read_block(b);
    fmt::print("  block {}  activations: {}\n", b, block.activations.describe());
    for (const auto& [module, q] : block.linears) {
      const std::map<int, double> widths = artifact_widths(q);
      const double n = static_cast<double>(q.weight.numel());
      for (const auto& [w, share] : widths) shard_widths[w] += share * n;
      weights += n;
      bits += q.bits_per_weight * n;
      const std::string more = artifact_description(q);
      fmt::print("    {:<18} {} {}-bit ({:.3f} bits/weight) group {} {} [{}, {}]{}{}{}\n", module, q.format, q.bits,
                 q.bits_per_weight, q.group_size ? std::to_string(q.group_size) : "per-channel",
                 q.symmetric ? "sym" : "asym", q.weight.size(0), q.weight.size(1),
                 q.loss >= 0 ? fmt::format(" loss {:.4g}", q.loss) : "",
                 widths.size() > 1 ? " widths " + describe_widths(widths) : "", more.empty() ? "" : " " + more);
    }
    for (const auto& [name, t] : block.parameters)
      fmt::print("    replaced {:<32} [{}] (full precision)\n", name, t.numel());
    for (const auto& [name, t] : r.read_stats(b)) {
      std::string shape;
      for (int64_t d : t.sizes()) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
      fmt::print("    stats/{:<12} [{}]\n", name, shape);
    }
  }
  if (weights > 0) {
    for (auto& [w, n] : shard_widths) n /= weights;
    fmt::print("  bit widths over {:.0f} weights: {}; {:.3f} bits per weight with masks and scales\n", weights,
               describe_widths(shard_widths), bits / weights);
  }
}

void verify_run(const std::string& run_dir) {
  const RunManifest m = read_run_manifest(run_dir);
  const int64_t blocks = verify_run_contents(m);
  fmt::print("verified: {} shard{} agree{} with {}; {} block{} read back, every checksum and code range correct\n",
             m.shards.size(), m.shards.size() == 1 ? "" : "s", m.shards.size() == 1 ? "s" : "", m.path, blocks,
             blocks == 1 ? "" : "s");
}

void run(const std::string& target) {
  LOWBIT_CHECK(fs::exists(target), target, ": does not exist");
  if (fs::is_directory(target)) {
    if (fs::exists(fs::path(target) / "manifest.json")) {
      const RunManifest m = read_run_manifest(target);
      for (const ManifestShard& s : m.shards) inspect_shard(m.shard_path(s));
      verify_run(target);
      return;
    }
    // A run still in progress (or killed): its shards, without a manifest to check them against.
    const fs::path shards = fs::path(target) / "shards";
    LOWBIT_CHECK(fs::is_directory(shards), target, ": not a run directory (no manifest.json, no shards/ inside)");
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(shards))
      if (e.path().extension() == ".h5") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    LOWBIT_CHECK(!files.empty(), shards.string(), ": no shard files");
    for (const std::string& f : files) inspect_shard(f);
    fmt::print("{}: no manifest.json (the run has not finished): committed blocks were read back and their "
               "checksums verified, but the shards were not checked against a manifest\n", target);
    return;
  }
  inspect_shard(target);
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto target = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "Show a shard file or every shard of a run directory");
  cmd->add_option("FILE_OR_RUN_DIR", *target, "A .h5 shard, or a run directory (then verified against its manifest)")->required();
  cmd->callback([target] { run(*target); });
}

}  // namespace lowbit::cli
