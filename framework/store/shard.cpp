#include "framework/store/shard.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "framework/core/error.h"
#include "framework/store/hdf5_file.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {
namespace {

std::string block_group(int64_t block) { return "/blocks/" + std::to_string(block); }

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
  LOWBIT_CHECK(version == kShardVersion, f.path(), ": attribute 'version' is ", version, "; this lowbit reads version ",
               kShardVersion, " (re-run the quantization, or use the lowbit that wrote it)");
  ShardHeader h;
  for (const auto& [name, field] : string_fields()) h.*field = f.attr_string("/", name);
  for (const auto& [name, field] : int_fields()) h.*field = f.attr_int("/", name);
  h.build_version = f.has_attr("/", "build_version") ? f.attr_string("/", "build_version") : "";
  return h;
}

std::vector<int64_t> committed(const h5::File& f) {
  std::vector<int64_t> out;
  for (const std::string& name : f.children("/blocks")) {
    const std::string g = "/blocks/" + name;
    if (f.has_attr(g, "committed") && f.attr_int(g, "committed") == 1) out.push_back(std::stoll(name));
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
    for (const auto& [name, field] : string_fields())
      LOWBIT_CHECK(have.*field == header.*field, path, ": attribute '", name,
                   "' differs from this run's; the shard belongs to another run (use a new run directory)");
    for (const auto& [name, field] : int_fields())
      LOWBIT_CHECK(have.*field == header.*field, path, ": attribute '", name, "' is ", have.*field, ", this run has ",
                   header.*field, "; the shard belongs to another run (use a new run directory)");
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
  file_ = std::make_unique<h5::File>(h5::File::create(path));
  file_->set_attr("/", "format", std::string(kShardFormat));
  file_->set_attr("/", "version", kShardVersion);
  for (const auto& [name, field] : string_fields()) file_->set_attr("/", name, header.*field);
  for (const auto& [name, field] : int_fields()) file_->set_attr("/", name, header.*field);
  file_->set_attr("/", "build_version", header.build_version);
  file_->ensure_group("/blocks");
  file_->ensure_group("/stats");
  file_->flush();
}

ShardWriter::~ShardWriter() = default;

std::vector<int64_t> ShardWriter::committed_blocks() const { return committed(*file_); }

void ShardWriter::commit_block(int64_t block, const std::map<std::string, QuantizedLinear>& linears,
                               const std::map<std::string, at::Tensor>& stats) {
  const std::string g = block_group(block);
  LOWBIT_ASSERT(!file_->exists(g), "block ", block, " is already in ", file_->path());
  file_->ensure_group(g);
  for (const auto& [module, q] : linears) {
    const std::string m = g + "/" + module;
    file_->ensure_group(m);
    file_->set_attr(m, "format", q.format);
    file_->set_attr(m, "bits", static_cast<int64_t>(q.bits));
    file_->set_attr(m, "group_size", q.group_size);
    file_->set_attr(m, "symmetric", static_cast<int64_t>(q.symmetric));
    file_->set_attr(m, "shape", fmt::format("{}x{}", q.weight.size(0), q.weight.size(1)));
    file_->set_attr(m, "loss", fmt::format("{:.9g}", q.loss));
    for (const auto& [name, t] : q.tensors) file_->write_tensor(m + "/" + name, t);
  }
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

std::map<std::string, QuantizedLinear> ShardReader::read_block(int64_t block) const {
  const std::string g = block_group(block);
  LOWBIT_CHECK(file_->exists(g) && file_->has_attr(g, "committed") && file_->attr_int(g, "committed") == 1,
               file_->path(), ": block ", block, " is not committed in this shard");
  std::map<std::string, QuantizedLinear> out;
  for (const std::string& module : file_->children(g)) {
    const std::string m = g + "/" + module;
    QuantizedLinear q;
    q.format = file_->attr_string(m, "format");
    q.bits = static_cast<int>(file_->attr_int(m, "bits"));
    q.group_size = file_->attr_int(m, "group_size");
    q.symmetric = file_->attr_int(m, "symmetric") != 0;
    q.loss = std::stod(file_->attr_string(m, "loss"));
    for (const std::string& name : file_->children(m)) q.tensors[name] = file_->read_tensor(m + "/" + name);
    LOWBIT_CHECK(q.format == "uniform", file_->path(), ": ", m, "@format is '", q.format,
                 "', which this lowbit cannot dequantize");
    for (const char* t : {"codes", "scale", "zero", "g_idx"})
      LOWBIT_CHECK(q.tensors.count(t), file_->path(), ": ", m, " lacks dataset '", t, "'");
    q.weight = dequantize_uniform(q.tensors["codes"], q.tensors["scale"], q.tensors["zero"], q.tensors["g_idx"]);
    out.emplace(module, std::move(q));
  }
  return out;
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
