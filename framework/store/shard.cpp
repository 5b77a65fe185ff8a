#include "framework/store/shard.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/model/weight_digests.h"
#include "framework/store/hdf5_file.h"
#include "methods/common/artifact_formats.h"

namespace lowbit {
namespace {

std::string block_group(int64_t block) { return "/blocks/" + std::to_string(block); }
// A block's replaced full-precision parameters: /blocks/<b>/parameters/<name> (not a linear).
constexpr const char* kParametersGroup = "parameters";

std::vector<std::pair<const char*, std::string ShardHeader::*>> string_fields() {
  return {{"method", &ShardHeader::method},
          {"method_config", &ShardHeader::method_config},
          {"model_fingerprint", &ShardHeader::model_fingerprint},
          {"calibration_fingerprint", &ShardHeader::calibration_fingerprint}};
}
std::vector<std::pair<const char*, int64_t ShardHeader::*>> int_fields() {
  return {{"rank", &ShardHeader::rank},
          {"world_size", &ShardHeader::world_size},
          {"first_block", &ShardHeader::first_block},
          {"end_block", &ShardHeader::end_block}};
}

ShardHeader read_header(const h5::File& f) {
  LOWBIT_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == kShardFormat, f.path(),
               ": attribute 'format' is not '", kShardFormat, "': not a lowbit shard");
  const int64_t version = f.attr_int("/", "version");
  LOWBIT_CHECK(version >= kOldestReadableShardVersion && version <= kShardVersion, f.path(), ": attribute 'version' is ",
               version, "; this lowbit reads versions ", kOldestReadableShardVersion, "-", kShardVersion,
               version < kOldestReadableShardVersion
                   ? " (version 1 shards carry no checksums: quantize again with this lowbit)"
                   : " (use the lowbit that wrote it)");
  ShardHeader h;
  h.version = version;
  for (const auto& [name, field] : string_fields()) h.*field = f.attr_string("/", name);
  for (const auto& [name, field] : int_fields()) h.*field = f.attr_int("/", name);
  h.build_version = f.has_attr("/", "build_version") ? f.attr_string("/", "build_version") : "";
  h.model_tensors = f.has_attr("/", "model_tensors") ? f.attr_string("/", "model_tensors") : "";
  return h;
}

// Which tensors differ between two {tensor: digest} JSON texts, for messages.
std::string describe_tensor_difference(const std::string& expected, const std::string& actual) {
  try {
    const std::string d = describe_weight_difference(nlohmann::json::parse(expected).get<WeightDigests>(),
                                                     nlohmann::json::parse(actual).get<WeightDigests>());
    return d.empty() ? "the tensor digests agree; config.json or a tensor's name, dtype or shape differs" : d;
  } catch (const std::exception&) {
    return "no tensor digests recorded to say which tensor";
  }
}

bool same_run(const ShardHeader& a, const ShardHeader& b) {
  for (const auto& [name, field] : string_fields())
    if (a.*field != b.*field) return false;
  for (const auto& [name, field] : int_fields())
    if (a.*field != b.*field) return false;
  return true;
}

std::vector<int64_t> committed(const h5::File& f) {
  std::vector<int64_t> out;
  for (const std::string& name : f.children("/blocks")) {
    const std::string g = "/blocks/" + name;
    if (!(f.has_attr(g, "committed") && f.attr_int(g, "committed") == 1)) continue;
    LOWBIT_CHECK(!name.empty() && name.size() <= 9 && name.find_first_not_of("0123456789") == std::string::npos,
                 f.path(), ": group /blocks/", name, " is not named by a block number");
    out.push_back(std::stoll(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string shard_file_name(int64_t rank, int64_t world_size) {
  return fmt::format("rank-{:05}-of-{:05}.h5", rank, world_size);
}

ShardWriter::ShardWriter(const std::string& path, const ShardHeader& header) {
  if (std::filesystem::exists(path)) {
    file_ = std::make_unique<h5::File>(h5::File::open(path, /*writable=*/true));
    const ShardHeader have = read_header(*file_);
    if (committed(*file_).empty() && !same_run(have, header)) {
      // A shard without a committed block holds nothing to lose (a set-up that failed after
      // creating it): a corrected config starts it afresh instead of being refused as another run.
      std::fprintf(stderr, "note: %s: replacing a shard of another config that has no committed block\n", path.c_str());
      file_.reset();
      create(path, header);
      return;
    }
    LOWBIT_CHECK(have.model_fingerprint == header.model_fingerprint, path,
                 ": attribute 'model_fingerprint' differs from this run's: the shard belongs to another run, made "
                 "from other weights (", describe_tensor_difference(have.model_tensors, header.model_tensors),
                 "); use a new run directory, or the model it was made from");
    for (const auto& [name, field] : string_fields())
      LOWBIT_CHECK(have.*field == header.*field, path, ": attribute '", name,
                   "' differs from this run's; the shard belongs to another run (use a new run directory)");
    for (const auto& [name, field] : int_fields())
      LOWBIT_CHECK(have.*field == header.*field, path, ": attribute '", name, "' is ", have.*field, ", this run has ",
                   header.*field, "; the shard belongs to another run (use a new run directory)");
    LOWBIT_CHECK(have.version == kShardVersion, path, ": attribute 'version' is ", have.version,
                 ": this lowbit appends version ", kShardVersion, " blocks only to a version ", kShardVersion,
                 " shard; use a new run directory");
    // Drop blocks a killed run left half-written.
    for (const std::string& name : file_->children("/blocks")) {
      const std::string g = "/blocks/" + name;
      if (!(file_->has_attr(g, "committed") && file_->attr_int(g, "committed") == 1)) {
        file_->remove(g);
        if (file_->exists("/stats/" + name)) file_->remove("/stats/" + name);
      }
    }
    file_->flush();
    return;
  }
  create(path, header);
}

void ShardWriter::create(const std::string& path, const ShardHeader& header) {
  file_ = std::make_unique<h5::File>(h5::File::create(path));
  file_->set_attr("/", "format", std::string(kShardFormat));
  file_->set_attr("/", "version", kShardVersion);
  for (const auto& [name, field] : string_fields()) file_->set_attr("/", name, header.*field);
  for (const auto& [name, field] : int_fields()) file_->set_attr("/", name, header.*field);
  file_->set_attr("/", "build_version", header.build_version);
  file_->set_attr("/", "model_tensors", header.model_tensors);
  file_->ensure_group("/blocks");
  file_->ensure_group("/stats");
  file_->flush();
}

ShardWriter::~ShardWriter() = default;

std::vector<int64_t> ShardWriter::committed_blocks() const { return committed(*file_); }

void ShardWriter::commit_block(int64_t block, const QuantizedBlock& q, const std::map<std::string, at::Tensor>& stats) {
  const std::string g = block_group(block);
  LOWBIT_ASSERT(!file_->exists(g), "block ", block, " is already in ", file_->path());
  const std::string where = file_->path() + ": block " + std::to_string(block);
  for (const auto& [module, linear] : q.linears) {
    LOWBIT_CHECK(linear.weight.defined(), where, " ", module, ": no dequantized weight; nothing of the block was written");
    check_artifact(linear, where + " " + module + " (nothing of the block was written)");
  }
  for (const auto& [name, t] : q.parameters)
    LOWBIT_CHECK(t.defined() && t.isfinite().all().item<bool>(), where, " parameter ", name,
                 " is not finite; nothing of the block was written");
  check_activation_quant(q.activations, where);
  for (const auto& [name, t] : stats)
    LOWBIT_CHECK(t.isfinite().all().item<bool>(), where, " statistic ", name,
                 " is not finite; nothing of the block was written");
  file_->ensure_group(g);
  for (const auto& [module, linear] : q.linears) {
    const std::string m = g + "/" + module;
    file_->ensure_group(m);
    file_->set_attr(m, "format", linear.format);
    file_->set_attr(m, "bits", static_cast<int64_t>(linear.bits));
    file_->set_attr(m, "bits_per_weight", fmt::format("{:.9g}", linear.bits_per_weight));
    file_->set_attr(m, "group_size", linear.group_size);
    file_->set_attr(m, "symmetric", static_cast<int64_t>(linear.symmetric));
    file_->set_attr(m, "shape", fmt::format("{}x{}", linear.weight.size(0), linear.weight.size(1)));
    file_->set_attr(m, "loss", fmt::format("{:.9g}", linear.loss));
    for (const auto& [name, t] : linear.tensors) file_->write_tensor(m + "/" + name, t);
  }
  if (!q.parameters.empty()) {
    file_->ensure_group(g + "/" + kParametersGroup);
    for (const auto& [name, t] : q.parameters) file_->write_tensor(g + "/" + kParametersGroup + "/" + name, t);
  }
  // The runtime forward spec (docs/shard-format.md), on the block group.
  file_->set_attr(g, "act_bits", static_cast<int64_t>(q.activations.bits));
  file_->set_attr(g, "act_granularity", q.activations.granularity);
  file_->set_attr(g, "act_symmetric", static_cast<int64_t>(q.activations.symmetric));
  file_->set_attr(g, "act_quantize_qkv_outputs", static_cast<int64_t>(q.activations.quantize_qkv_outputs));
  for (const auto& [name, t] : stats) {
    const std::string ds = "/stats/" + std::to_string(block) + "/" + name;
    file_->ensure_group(ds.substr(0, ds.rfind('/')));
    file_->write_tensor(ds, t);
  }
  file_->flush();
  file_->set_attr(g, "committed", int64_t{1});  // only now is the block visible as done
  file_->flush();
}

ShardReader::ShardReader(const std::string& path)
    : file_(std::make_unique<h5::File>(h5::File::open(path, /*writable=*/false))), header_(read_header(*file_)) {}

ShardReader::~ShardReader() = default;

const std::string& ShardReader::path() const { return file_->path(); }

std::vector<int64_t> ShardReader::committed_blocks() const { return committed(*file_); }

QuantizedBlock ShardReader::read_block(int64_t block) const {
  const std::string g = block_group(block);
  LOWBIT_CHECK(file_->exists(g) && file_->has_attr(g, "committed") && file_->attr_int(g, "committed") == 1,
               file_->path(), ": block ", block, " is not committed in this shard");
  auto read_checked = [&](const std::string& ds) {
    at::Tensor t = file_->read_tensor(ds);  // checksums verified by HDF5
    LOWBIT_CHECK(t.numel() == 0 || t.dim() == 0 || file_->has_checksum(ds), file_->path(), ": ", ds,
                 " carries no checksum");
    return t;
  };
  QuantizedBlock out;
  for (const std::string& module : file_->children(g)) {
    const std::string m = g + "/" + module;
    if (module == kParametersGroup) {
      for (const std::string& name : file_->children(m)) {
        at::Tensor t = read_checked(m + "/" + name);
        LOWBIT_CHECK(t.is_floating_point() && t.isfinite().all().item<bool>(), file_->path(), ": ", m, "/", name,
                     " is not a finite floating-point tensor");
        out.parameters[name] = std::move(t);
      }
      continue;
    }
    QuantizedLinear q;
    q.format = file_->attr_string(m, "format");
    q.bits = static_cast<int>(file_->attr_int(m, "bits"));
    q.group_size = file_->attr_int(m, "group_size");
    q.symmetric = file_->attr_int(m, "symmetric") != 0;
    const std::string loss = file_->attr_string(m, "loss");
    char* end = nullptr;
    q.loss = std::strtod(loss.c_str(), &end);
    LOWBIT_CHECK(!loss.empty() && end == loss.c_str() + loss.size(), file_->path(), ": ", m, "@loss '", loss,
                 "' is not a number");
    for (const std::string& name : file_->children(m)) q.tensors[name] = read_checked(m + "/" + name);
    finish_artifact(q, file_->path() + ": " + m);  // checked, dequantized: as a fresh block is
    out.linears.emplace(module, std::move(q));
  }
  out.activations = read_activations(block);
  return out;
}

ActivationQuant ShardReader::read_activations(int64_t block) const {
  const std::string g = block_group(block);
  LOWBIT_CHECK(file_->exists(g) && file_->has_attr(g, "committed") && file_->attr_int(g, "committed") == 1,
               file_->path(), ": block ", block, " is not committed in this shard");
  ActivationQuant a;
  if (header_.version >= 3) {  // version 2 shards predate the forward spec: no activation quantization
    a.bits = static_cast<int>(file_->attr_int(g, "act_bits"));
    a.granularity = file_->attr_string(g, "act_granularity");
    a.symmetric = file_->attr_int(g, "act_symmetric") != 0;
    a.quantize_qkv_outputs = file_->attr_int(g, "act_quantize_qkv_outputs") != 0;
  }
  check_activation_quant(a, file_->path() + ": " + g);
  return a;
}

std::map<std::string, at::Tensor> ShardReader::read_stats(int64_t block) const {
  std::map<std::string, at::Tensor> out;
  const std::string root = "/stats/" + std::to_string(block);
  for (const std::string& input : file_->children(root))
    for (const std::string& name : file_->children(root + "/" + input))
      out[input + "/" + name] = file_->read_tensor(root + "/" + input + "/" + name);
  return out;
}

}  // namespace lowbit
