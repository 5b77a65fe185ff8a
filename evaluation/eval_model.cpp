#include "evaluation/eval_model.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/model/fingerprint.h"
#include "framework/store/shard.h"
#include "methods/method.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_manifest(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "manifest.json").string();
  const nlohmann::json m = parse_json_object(read_file(path), path);
  LOWBIT_CHECK(m.value("format", "") == "lowbit-run", path, ": key 'format' is not \"lowbit-run\"");
  LOWBIT_CHECK(m.value("version", 0) == 1, path, ": key 'version' ", m.value("version", 0), " is not supported (1)");
  for (const char* k : {"model", "shards", "method"})
    LOWBIT_CHECK(m.contains(k), path, ": missing key '", k, "'");
  return m;
}

}  // namespace

EvalTarget resolve_eval_target(const std::string& path, const std::string& model_override) {
  EvalTarget t;
  t.path = path;
  LOWBIT_CHECK(fs::is_directory(path), path, ": not a directory (expected a lowbit run directory or a model directory)");
  if (fs::exists(fs::path(path) / "manifest.json")) {
    const nlohmann::json m = read_manifest(path);
    const std::string manifest = (fs::path(path) / "manifest.json").string();
    t.quantized = true;
    t.method = m["method"].get<std::string>();
    t.method_config = m.value("method_config", "");
    t.model_name = m["model"].value("name", "");
    t.run_fingerprint = m.contains("calibration") ? m["calibration"].value("fingerprint", "") : "";
    t.model_dir = model_override.empty() ? m["model"].value("path", "") : model_override;
    LOWBIT_CHECK(fs::exists(fs::path(t.model_dir) / "config.json"), manifest, ": key 'model.path': the base model ",
                 t.model_dir, " has no config.json (run from the directory the run was made in, or pass --model)");
    t.model_fingerprint = model_fingerprint(t.model_dir);
    const std::string expected = m["model"].value("fingerprint", "");
    LOWBIT_CHECK(expected == t.model_fingerprint, manifest, ": key 'model.fingerprint' is ", expected, " but ",
                 t.model_dir, " has fingerprint ", t.model_fingerprint, ": these shards were made from another model");
  } else {
    LOWBIT_CHECK(model_override.empty() || model_override == path, "--model applies to run directories only");
    LOWBIT_CHECK(fs::exists(fs::path(path) / "config.json"), path,
                 ": neither a lowbit run directory (manifest.json) nor a model directory (config.json)");
    t.model_dir = path;
    t.model_name = fs::path(path).filename().string();
    t.model_fingerprint = model_fingerprint(path);
  }
  return t;
}

LlamaWeights load_eval_part(const EvalTarget& t, const RankPlan& plan, c10::Device device, c10::ScalarType dtype) {
  LoadOptions load;
  load.device = device;
  load.dtype = dtype;
  load.first_block = plan.first_block;
  load.end_block = plan.end_block;
  load.embedding = plan.embedding;
  load.head = plan.head;
  LlamaWeights w = load_llama(t.model_dir, load);
  if (!t.quantized) return w;
  const std::string manifest_path = (fs::path(t.path) / "manifest.json").string();
  const nlohmann::json m = read_manifest(t.path);
  for (int64_t b = plan.first_block; b < plan.end_block; ++b) {
    std::string file;
    for (const nlohmann::json& s : m["shards"])
      if (s.value("first_block", -1) <= b && b < s.value("end_block", -1)) file = s.value("file", "");
    LOWBIT_CHECK(!file.empty(), manifest_path, ": key 'shards': no shard holds block ", b);
    // A shard is a file of the run: a path that leaves the run directory is refused, not opened.
    const fs::path rel = fs::path(file).lexically_normal();
    LOWBIT_CHECK(rel.is_relative() && !rel.empty() && *rel.begin() != "..", manifest_path, ": key 'shards': file '",
                 file, "' is outside the run directory");
    const ShardReader shard((fs::path(t.path) / file).string());
    LOWBIT_CHECK(shard.header().model_fingerprint == t.model_fingerprint, shard.path(), ": model fingerprint ",
                 shard.header().model_fingerprint, " is not the base model's (", t.model_fingerprint, ")");
    const auto block = shard.read_block(b);  // throws naming the file if the block is not committed
    BlockWeights& bw = w.blocks[static_cast<std::size_t>(b - plan.first_block)];
    for (const BlockLinear& l : block_linears()) {
      auto it = block.find(l.module);
      LOWBIT_CHECK(it != block.end(), shard.path(), ": block ", b, " has no ", l.module);
      LOWBIT_CHECK(it->second.weight.sizes() == (bw.*l.weight).sizes(), shard.path(), ": block ", b, " ", l.module,
                   " is ", it->second.weight.sizes(), ", the model's is ", (bw.*l.weight).sizes());
      bw.*l.weight = it->second.weight.to(device, (bw.*l.weight).scalar_type());  // dequantized on the host
    }
  }
  return w;
}

}  // namespace lowbit
