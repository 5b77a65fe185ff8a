#include "evaluation/eval_model.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/export/packed_checkpoint.h"
#include "framework/core/xxhash64.h"
#include "framework/train/distill.h"
#include "framework/train/dual_binary_student.h"
#include "framework/train/finetune.h"
#include "framework/train/peft_adapter.h"
#include "framework/model/fingerprint.h"
#include "framework/model/weight_digests.h"
#include "framework/store/shard.h"
#include "methods/method.h"

namespace lowbit {

namespace fs = std::filesystem;


namespace {

// A `lowbit distill` output: the base run it names (fingerprints checked) with its trained scales.
EvalTarget resolve_distill_output(const std::string& path, const std::string& model_override) {
  const std::string where = (fs::path(path) / kDistillManifest).string();
  const nlohmann::json info = parse_json_object(read_file(where), where);
  LOWBIT_CHECK(info.value("format", "") == "lowbit-distill" && info.value("version", 0) == 1, where,
               ": not a lowbit-distill v1 file (field 'format'/'version')");
  LOWBIT_CHECK(info.contains("base") && info["base"].is_string(), where, ": field 'base' must be a string");
  const std::string base = info["base"].get<std::string>();
  LOWBIT_CHECK(!fs::exists(base) || !fs::equivalent(base, path), where, ": field 'base' names this directory itself");
  EvalTarget t = resolve_eval_target(base, model_override);
  LOWBIT_CHECK(t.quantized && t.finetune.empty(), where, ": field 'base' is not a plain lowbit run directory");
  LOWBIT_CHECK(info.value("model_fingerprint", "") == t.model_fingerprint, where,
               ": field 'model_fingerprint' differs from the base model's (", t.model_fingerprint,
               "): the scales were trained on other weights");
  LOWBIT_CHECK(info.value("run_fingerprint", "") == t.run_fingerprint, where,
               ": field 'run_fingerprint' differs from the base run's: the scales were trained on another run");
  const std::string scales = (fs::path(path) / info.value("scales", kDistillScalesFile)).string();
  LOWBIT_CHECK(fs::exists(scales), where, ": field 'scales': ", scales, " does not exist");
  const std::string bytes = read_file(scales);
  LOWBIT_CHECK(info.value("scales_xxh64", "") == xxhash64_hex(bytes.data(), bytes.size()), scales,
               ": its XXH64 differs from field 'scales_xxh64' of ", where, " (the file was changed or damaged)");
  t.path = path;
  t.scales_file = scales;
  t.finetune = "distill-" + info.value("loss", std::string("?"));
  t.finetune_fingerprint = info.value("config_fingerprint", "");
  return t;
}

}  // namespace

EvalTarget resolve_eval_target(const std::string& path, const std::string& model_override) {
  if (fs::exists(fs::path(path) / kDistillManifest)) return resolve_distill_output(path, model_override);
  const fs::path finetune_manifest = fs::path(path) / kFinetuneManifest;
  if (fs::exists(finetune_manifest)) {
    const std::string where = finetune_manifest.string();
    const nlohmann::json info = parse_json_object(read_file(where), where);
    LOWBIT_CHECK(info.value("format", "") == "lowbit-finetune" && info.value("version", 0) == 1, where,
                 ": not a lowbit-finetune v1 file (field 'format'/'version')");
    LOWBIT_CHECK(info.contains("base") && info["base"].is_string(), where, ": field 'base' must be a string");
    EvalTarget t = resolve_eval_target(info["base"].get<std::string>(), model_override);
    LOWBIT_CHECK(info.value("model_fingerprint", "") == t.model_fingerprint, where,
                 ": field 'model_fingerprint' differs from the base model's (", t.model_fingerprint,
                 "): the adapters were trained on other weights");
    LOWBIT_CHECK(info.value("run_fingerprint", "") == t.run_fingerprint, where,
                 ": field 'run_fingerprint' differs from the base run's: the adapters were trained on another run");
    t.path = path;
    attach_adapter(t, (fs::path(path) / info.value("adapter", kFinetuneAdapterDir)).string());
    t.finetune_fingerprint = info.value("config_fingerprint", "");
    return t;
  }
  EvalTarget t;
  t.path = path;
  LOWBIT_CHECK(fs::is_directory(path), path, ": not a directory (expected a lowbit run directory or a model directory)");
  if (fs::exists(fs::path(path) / "manifest.json")) {
    t.manifest = read_run_manifest(path);
    const RunManifest& m = t.manifest;
    t.quantized = true;
    t.method = m.method;
    t.method_config = m.method_config;
    t.model_name = m.model_name;
    t.run_fingerprint = m.calibration_fingerprint;
    t.model_dir = model_override.empty() ? m.model_path : model_override;
    LOWBIT_CHECK(fs::exists(fs::path(t.model_dir) / "config.json"), m.path, ": key 'model.path': the base model ",
                 t.model_dir, " has no config.json (run from the directory the run was made in, or pass --model)");
    const WeightDigests digests = weight_digests(t.model_dir);
    t.model_fingerprint = model_fingerprint(t.model_dir, digests);
    if (m.model_fingerprint != t.model_fingerprint) {
      const std::string diff = describe_weight_difference(m.model_tensors, digests);
      LOWBIT_FAIL(m.path, ": key 'model.fingerprint' is ", m.model_fingerprint, " but ", t.model_dir,
                  " has fingerprint ", t.model_fingerprint, ": these shards were made from other weights (",
                  diff.empty() ? "config.json or a tensor's dtype or shape differs" : diff, ")");
    }
    verify_run_shards(m);  // every shard's header against the manifest, every block committed
    if (m.num_blocks > 0) t.activations = ShardReader(m.shard_path(m.shard_of(0))).read_activations(0);
  } else {
    LOWBIT_CHECK(model_override.empty() || model_override == path, "--model applies to run directories only");
    LOWBIT_CHECK(fs::exists(fs::path(path) / "config.json"), path,
                 ": neither a lowbit run directory (manifest.json) nor a model directory (config.json)");
    t.model_dir = path;
    t.model_name = fs::path(path).filename().string();
    t.model_fingerprint = model_fingerprint(path);
    if (const auto packed = PackedCheckpoint::open(path)) t.packed_format = packed->format().name;
  }
  return t;
}

namespace {

// Replaces each block of the part by the run's quantized block from whichever shard holds it.
void apply_run_blocks(const EvalTarget& t, const RankPlan& plan, LlamaWeights& w) {
  const RunManifest& m = t.manifest;
  LOWBIT_CHECK(m.num_blocks == w.config.num_hidden_layers, m.path, ": key 'num_blocks' is ", m.num_blocks, " but ",
               t.model_dir, " has ", w.config.num_hidden_layers, " blocks");
  for (int64_t b = plan.first_block; b < plan.end_block; ++b) {
    BlockWeights& bw = w.blocks[static_cast<std::size_t>(b - plan.first_block)];
    // Dequantized on the host, moved to the device; replaced parameters and the forward spec too.
    QuantizedBlock q = read_run_block(t, b);
    if (!t.scales_file.empty()) apply_trained_scales(t.scales_file, b, q);
    bw = apply_quantized_block(bw, q, m.shard_path(m.shard_of(b)) + ": block " + std::to_string(b));
  }
}
}  // namespace

QuantizedBlock read_run_block(const EvalTarget& t, int64_t block) {
  const RunManifest& m = t.manifest;
  const ManifestShard& s = m.shard_of(block);
  const ShardReader shard(m.shard_path(s));
  check_shard_header(m, s, shard.header());
  QuantizedBlock q = shard.read_block(block);  // throws naming the file if the block is not committed
  for (const BlockLinear& l : block_linears())
    LOWBIT_CHECK(q.linears.count(l.module), shard.path(), ": block ", block, " has no ", l.module);
  return q;
}

void attach_adapter(EvalTarget& t, const std::string& adapter_dir) {
  LOWBIT_CHECK(t.adapter_dir.empty(), adapter_dir, ": ", t.path, " already carries adapters (", t.adapter_dir, ")");
  LOWBIT_CHECK(is_peft_adapter_dir(adapter_dir), adapter_dir, ": no adapter_config.json (not a PEFT adapter directory)");
  t.adapter_dir = adapter_dir;
  const LlamaConfig c = LlamaConfig::from_file((fs::path(t.model_dir) / "config.json").string());
  t.finetune = load_peft_adapter(adapter_dir, c).config().iec ? "lora+iec" : "lora";  // checked here, before any work
  t.finetune_fingerprint = "adapter " + fs::absolute(adapter_dir).lexically_normal().string();
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
  if (t.quantized) apply_run_blocks(t, plan, w);
  // Adapters: W + merged delta per adapted linear (the base's dequantized weights, then the sum in
  // the weights' dtype).
  if (!t.adapter_dir.empty()) load_peft_adapter(t.adapter_dir, w.config, device).merge_into(w);
  return w;
}


}  // namespace lowbit
