// One rank's HDF5 shard (docs/shard-format.md): the quantized blocks it owns and the calibration
// statistics worth keeping. A block is committed only when complete (datasets written and flushed,
// then the group's `committed` attribute set and flushed), so a killed run resumes at the first
// uncommitted block and never reads a half-written one.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "methods/method.h"

namespace lowbit {

namespace h5 {
class File;
}

inline constexpr const char* kShardFormat = "lowbit-shard";
// 2: every dataset checksummed (Fletcher32), metadata in the checksummed 1.8+ HDF5 format.
// 3: a block also holds replaced parameters and its runtime forward spec (method interface v2).
inline constexpr int64_t kShardVersion = 3;
inline constexpr int64_t kOldestReadableShardVersion = 2;  // a v2 block reads as one without either

struct ShardHeader {
  std::string method;                   // registry name
  std::string method_config;            // the method's YAML section, as text
  std::string model_fingerprint;
  std::string calibration_fingerprint;
  int64_t rank = 0, world_size = 1;
  int64_t first_block = 0, end_block = 0;  // blocks this rank owns: [first, end)
  std::string build_version;
  std::string model_tensors;  // JSON {tensor: weight digest}: names what differs when the fingerprint does
  int64_t version = kShardVersion;  // as read (not compared between runs)
};

// "rank-00001-of-00004.h5"
std::string shard_file_name(int64_t rank, int64_t world_size);

class ShardWriter {
 public:
  // Creates `path`, or reopens it to resume: its header must equal `header` field for field
  // (else refused, naming the file and the field), and any uncommitted block is removed. A shard
  // of another header without any committed block (a failed set-up) is replaced, with a note.
  ShardWriter(const std::string& path, const ShardHeader& header);
  ~ShardWriter();
  std::vector<int64_t> committed_blocks() const;
  // Writes and commits block `block` (which must not be committed yet): its linear artifacts, its
  // replaced parameters and its forward spec; `stats` maps a statistic's path inside
  // /stats/<block>/ (e.g. "attention/hessian") to its tensor. Everything is checked first (the
  // artifact format's checks, finite parameters and statistics): a NaN is refused, naming the
  // tensor, and nothing of the block is written.
  void commit_block(int64_t block, const QuantizedBlock& q, const std::map<std::string, at::Tensor>& stats = {});

 private:
  void create(const std::string& path, const ShardHeader& header);
  std::unique_ptr<h5::File> file_;
};

class ShardReader {
 public:
  explicit ShardReader(const std::string& path);  // validates format and version
  ~ShardReader();
  const ShardHeader& header() const { return header_; }
  std::vector<int64_t> committed_blocks() const;
  // A committed block: its artifacts, each checked (checksums, the format's checks) and with its
  // dequantized weight rebuilt through the format registry; its parameters and forward spec.
  QuantizedBlock read_block(int64_t block) const;
  std::map<std::string, at::Tensor> read_stats(int64_t block) const;
  // Only the forward spec of a committed block (its attributes; cheap).
  ActivationQuant read_activations(int64_t block) const;
  const std::string& path() const;

 private:
  std::unique_ptr<h5::File> file_;
  ShardHeader header_;
};

}  // namespace lowbit
