#include "framework/store/run_manifest.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/store/shard.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

// The value of `key` in `obj` as T, or an error naming the manifest and the key.
template <typename T>
T field(const nlohmann::json& obj, const std::string& key, const std::string& where, const std::string& prefix = "") {
  LOWBIT_CHECK(obj.is_object() && obj.contains(key), where, ": missing key '", prefix, key, "'");
  const nlohmann::json& v = obj.at(key);
  if constexpr (std::is_same_v<T, std::string>) {
    LOWBIT_CHECK(v.is_string(), where, ": key '", prefix, key, "' is not a string");
  } else {
    LOWBIT_CHECK(v.is_number_integer(), where, ": key '", prefix, key, "' is not an integer");
  }
  return v.get<T>();
}

}  // namespace

std::string RunManifest::shard_path(const ManifestShard& s) const { return (fs::path(run_dir) / s.file).string(); }

const ManifestShard& RunManifest::shard_of(int64_t block) const {
  for (const ManifestShard& s : shards)
    if (s.first_block <= block && block < s.end_block) return s;
  LOWBIT_FAIL(path, ": key 'shards': no shard holds block ", block, " (the run has ", num_blocks, " blocks)");
}

RunManifest read_run_manifest(const std::string& run_dir) {
  RunManifest m;
  m.run_dir = run_dir;
  m.path = (fs::path(run_dir) / "manifest.json").string();
  const nlohmann::json j = parse_json_object(read_file(m.path), m.path);
  LOWBIT_CHECK(j.value("format", "") == "lowbit-run", m.path, ": key 'format' is not \"lowbit-run\"");
  const int64_t version = field<int64_t>(j, "version", m.path);
  LOWBIT_CHECK(version == kManifestVersion, m.path, ": key 'version' is ", version, "; this lowbit reads version ",
               kManifestVersion,
               version < kManifestVersion ? " (runs made before shards carried checksums: quantize again)" : "");
  m.method = field<std::string>(j, "method", m.path);
  m.method_config = field<std::string>(j, "method_config", m.path);
  LOWBIT_CHECK(j.contains("model") && j["model"].is_object(), m.path, ": key 'model' is missing or not an object");
  m.model_name = field<std::string>(j["model"], "name", m.path, "model.");
  m.model_path = field<std::string>(j["model"], "path", m.path, "model.");
  m.model_fingerprint = field<std::string>(j["model"], "fingerprint", m.path, "model.");
  LOWBIT_CHECK(j["model"].contains("tensors") && j["model"]["tensors"].is_object(), m.path,
               ": key 'model.tensors' is missing or not an object");
  for (const auto& [name, digest] : j["model"]["tensors"].items()) {
    LOWBIT_CHECK(digest.is_string(), m.path, ": key 'model.tensors.", name, "' is not a string");
    m.model_tensors[name] = digest.get<std::string>();
  }
  LOWBIT_CHECK(j.contains("calibration") && j["calibration"].is_object(), m.path,
               ": key 'calibration' is missing or not an object");
  m.calibration_fingerprint = field<std::string>(j["calibration"], "fingerprint", m.path, "calibration.");
  m.world_size = field<int64_t>(j, "world_size", m.path);
  m.num_blocks = field<int64_t>(j, "num_blocks", m.path);
  LOWBIT_CHECK(m.world_size >= 1, m.path, ": key 'world_size' is ", m.world_size);
  LOWBIT_CHECK(m.num_blocks >= 1, m.path, ": key 'num_blocks' is ", m.num_blocks);
  LOWBIT_CHECK(j.contains("shards") && j["shards"].is_array(), m.path, ": key 'shards' is missing or not a list");
  LOWBIT_CHECK(static_cast<int64_t>(j["shards"].size()) == m.world_size, m.path, ": key 'shards' has ",
               j["shards"].size(), " entries for world_size ", m.world_size);
  for (std::size_t i = 0; i < j["shards"].size(); ++i) {
    const nlohmann::json& e = j["shards"][i];
    const std::string p = "shards[" + std::to_string(i) + "].";
    ManifestShard s;
    s.file = field<std::string>(e, "file", m.path, p);
    s.rank = field<int64_t>(e, "rank", m.path, p);
    s.first_block = field<int64_t>(e, "first_block", m.path, p);
    s.end_block = field<int64_t>(e, "end_block", m.path, p);
    // A shard is a file of the run: a path that leaves the run directory is refused, not opened.
    const fs::path rel = fs::path(s.file).lexically_normal();
    LOWBIT_CHECK(rel.is_relative() && !rel.empty() && *rel.begin() != "..", m.path, ": key '", p, "file': '", s.file,
                 "' is outside the run directory");
    LOWBIT_CHECK(s.rank == static_cast<int64_t>(i), m.path, ": key '", p, "rank' is ", s.rank, ", expected ", i);
    LOWBIT_CHECK(0 <= s.first_block && s.first_block <= s.end_block && s.end_block <= m.num_blocks, m.path, ": key '", p,
                 "': blocks [", s.first_block, ", ", s.end_block, ") are not within [0, ", m.num_blocks, ")");
    m.shards.push_back(s);
  }
  // Ranges in rank order tile [0, num_blocks): each starts where the previous ended.
  int64_t next = 0;
  for (const ManifestShard& s : m.shards) {
    LOWBIT_CHECK(s.first_block >= next, m.path, ": key 'shards[", s.rank, "]': blocks [", s.first_block, ", ",
                 s.end_block, ") overlap the previous shard's, which end at ", next);
    LOWBIT_CHECK(s.first_block == next, m.path, ": key 'shards[", s.rank, "]': blocks ", next, " to ",
                 s.first_block - 1, " are in no shard (this shard starts at ", s.first_block, ")");
    next = s.end_block;
  }
  LOWBIT_CHECK(next == m.num_blocks, m.path, ": key 'shards': blocks ", next, " to ", m.num_blocks - 1,
               " are in no shard");
  return m;
}

void check_shard_header(const RunManifest& m, const ManifestShard& s, const ShardHeader& h) {
  const std::string file = m.shard_path(s);
  const auto same = [&](const char* attr, const std::string& have, const std::string& want, const char* key) {
    LOWBIT_CHECK(have == want, file, ": attribute '", attr, "' is '", have, "' but ", m.path, " has '", want,
                 "' (key '", key, "'): the shard belongs to another run");
  };
  same("method", h.method, m.method, "method");
  same("method_config", h.method_config, m.method_config, "method_config");
  same("model_fingerprint", h.model_fingerprint, m.model_fingerprint, "model.fingerprint");
  same("calibration_fingerprint", h.calibration_fingerprint, m.calibration_fingerprint, "calibration.fingerprint");
  const auto same_int = [&](const char* attr, int64_t have, int64_t want, const std::string& key) {
    LOWBIT_CHECK(have == want, file, ": attribute '", attr, "' is ", have, " but ", m.path, " has ", want, " (key '", key,
                 "'): the shard belongs to another run");
  };
  const std::string p = "shards[" + std::to_string(s.rank) + "].";
  same_int("rank", h.rank, s.rank, p + "rank");
  same_int("world_size", h.world_size, m.world_size, "world_size");
  same_int("first_block", h.first_block, s.first_block, p + "first_block");
  same_int("end_block", h.end_block, s.end_block, p + "end_block");
}

void verify_run_shards(const RunManifest& m) {
  for (const ManifestShard& s : m.shards) {
    const ShardReader r(m.shard_path(s));
    check_shard_header(m, s, r.header());
    const std::vector<int64_t> done = r.committed_blocks();
    for (int64_t b = s.first_block; b < s.end_block; ++b)
      LOWBIT_CHECK(std::binary_search(done.begin(), done.end(), b), r.path(), ": block ", b,
                   " is not committed (the run did not finish; run the same quantize command again to resume)");
  }
}

int64_t verify_run_contents(const RunManifest& m) {
  verify_run_shards(m);
  int64_t blocks = 0;
  for (const ManifestShard& s : m.shards) {
    const ShardReader r(m.shard_path(s));
    for (int64_t b = s.first_block; b < s.end_block; ++b, ++blocks) r.read_block(b), r.read_stats(b);
  }
  return blocks;
}

}  // namespace lowbit
