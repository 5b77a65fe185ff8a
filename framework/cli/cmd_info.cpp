// `lowbit info [MODEL_DIR]`: the build, and a model's config, parameter count, bytes per dtype
// and tensors, from config.json and the safetensors headers alone (no weight is read).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "framework/cli/commands.h"
#include "framework/core/build_info.h"
#include "framework/core/device.h"
#include "framework/core/units.h"
#include "framework/export/packed_checkpoint.h"
#include "framework/model/llama_arch.h"
#include "framework/model/llama_config.h"
#include "framework/model/safetensors.h"

namespace lowbit::cli {
namespace {

void print_model(const std::string& dir, bool list_tensors) {
  const std::string config_path = (std::filesystem::path(dir) / "config.json").string();
  const LlamaConfig c = LlamaConfig::from_file(config_path);
  SafetensorsModel model(dir);
  // A packed checkpoint's linears are other tensors (qweight, ...), read and checked when loaded.
  const std::optional<PackedCheckpoint> packed = PackedCheckpoint::open(dir);
  std::vector<TensorSpec> dense;
  for (const TensorSpec& s : all_tensors(c))
    if (!(packed && s.shape.size() == 2 && s.name.find(".layers.") != std::string::npos && packed->holds(model, s)))
      dense.push_back(s);
  check_tensors(model, dense, config_path);

  fmt::print("model {}\n", dir);
  fmt::print("  layers {}  hidden {}  intermediate {}  heads {}  kv heads {}  head dim {}  vocab {}\n",
             c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.num_attention_heads,
             c.num_key_value_heads, c.head_dim, c.vocab_size);
  fmt::print("  rms_norm_eps {}  rope theta {}  rope type {}", c.rms_norm_eps, c.rope.theta, c.rope.type);
  if (c.rope.type == "llama3")
    fmt::print(" (factor {}, low/high freq factor {}/{}, original max positions {})", c.rope.factor,
               c.rope.low_freq_factor, c.rope.high_freq_factor, c.rope.original_max_position_embeddings);
  fmt::print("\n  tied embeddings {}  saved dtype {}  max positions {}\n", c.tie_word_embeddings ? "yes" : "no",
             c.torch_dtype, c.max_position_embeddings);
  if (packed) {
    const PackedScheme& p = packed->scheme();
    fmt::print("  packed checkpoint: {} {}-bit, {}, {}{}{} (linears dequantized on load; docs/exports.md)\n",
               p.format, p.bits, p.group_size ? fmt::format("groups of {}", p.group_size) : std::string("per channel"),
               p.symmetric ? "symmetric" : "asymmetric", p.desc_act ? ", act-order g_idx" : "",
               p.format == "gptq" ? (p.gptq_v2 ? ", gptq_v2 zeros" : ", v1 zeros (zero - 1)") : "");
  }
  fmt::print("  files: {} ({})\n", model.files().size(), model.sharded() ? "sharded, with index" : "single");

  std::map<std::string, std::pair<int64_t, uint64_t>> per_dtype;  // dtype -> (params, bytes)
  int64_t params = 0;
  const auto names = model.names();
  for (const std::string& name : names) {
    const TensorInfo& t = model.info(name);
    params += t.numel();
    auto& row = per_dtype[dtype_name(t.dtype)];
    row.first += t.numel();
    row.second += t.nbytes();
  }
  fmt::print("  {} {} ({:.3f} B) in {} tensors\n", packed ? "stored elements" : "parameters", params, params / 1e9,
             names.size());
  for (const auto& [dtype, row] : per_dtype)
    fmt::print("    {:<5} {:>14} parameters  {:>12}\n", dtype, row.first, human_bytes(double(row.second)));
  if (!list_tensors) return;
  fmt::print("  tensors:\n");
  for (const std::string& name : names) {
    const TensorInfo& t = model.info(name);
    fmt::print("    {:<48} {:<5} {:<16} {}\n", name, dtype_name(t.dtype), shape_to_string(t.shape),
               std::filesystem::path(model.file_of(name)).filename().string());
  }
}

}  // namespace

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show the build, and a model directory's config, size and tensors");
  auto dir = std::make_shared<std::string>();
  auto no_tensors = std::make_shared<bool>(false);
  cmd->add_option("MODEL_DIR", *dir, "Hugging Face model directory (config.json + safetensors; a GPTQ / AWQ / compressed-tensors checkpoint too)");
  cmd->add_flag("--no-tensors", *no_tensors, "Do not list every tensor");
  cmd->callback([dir, no_tensors] {
    fmt::print("{}", build_info());
    // What `device: auto` picks for this process (under mpirun: for this rank, by its local rank).
    const int local = launcher_local_rank();
    fmt::print("device (auto){}: {}\n", local >= 0 ? fmt::format(" for local rank {}", local) : "",
               describe_device(select_device("auto", 0, "device")));
    if (!dir->empty()) print_model(*dir, !*no_tensors);
  });
}

}  // namespace lowbit::cli
