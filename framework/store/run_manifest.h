// RUN_DIR/manifest.json read back and checked (docs/shard-format.md): which shard holds which
// blocks, and what every shard's header must say. A run is trusted only when its manifest is
// well formed, its shards cover the model's blocks exactly once, and every shard's header agrees
// with the manifest (method, method config, model and calibration fingerprints, rank, world size,
// block range) with every block of its range committed. Block contents are checked when read
// (ShardReader: checksums, artifact ranges).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lowbit {

struct ShardHeader;

inline constexpr int64_t kManifestVersion = 2;

struct ManifestShard {
  std::string file;  // relative to the run directory ("shards/rank-00000-of-00001.h5")
  int64_t rank = 0, first_block = 0, end_block = 0;
};

struct RunManifest {
  std::string run_dir, path;  // path: RUN_DIR/manifest.json
  std::string method, method_config;
  std::string model_name, model_path, model_fingerprint;
  std::map<std::string, std::string> model_tensors;  // tensor -> weight digest (weight_digests.h)
  std::string calibration_fingerprint;
  int64_t world_size = 0, num_blocks = 0;
  std::vector<ManifestShard> shards;  // by rank; their ranges tile [0, num_blocks)

  std::string shard_path(const ManifestShard& s) const;  // RUN_DIR/file
  const ManifestShard& shard_of(int64_t block) const;
};

// Parses and checks manifest.json: format, version, every key's type, shard files inside the run
// directory, ranks 0..world_size-1 once each, block ranges without overlap or gap. Errors name the
// file and the key.
RunManifest read_run_manifest(const std::string& run_dir);

// `header` (read from the shard of `s`) against the manifest, field by field.
void check_shard_header(const RunManifest& m, const ManifestShard& s, const ShardHeader& header);

// Opens every shard of the run: its header against the manifest and every block of its range
// committed. Reads no block contents.
void verify_run_shards(const RunManifest& m);

// verify_run_shards, then every block and statistic read back (checksums verified by HDF5,
// artifacts by their format's check in methods/common/artifact_formats). Returns the number of blocks read.
int64_t verify_run_contents(const RunManifest& m);

}  // namespace lowbit
