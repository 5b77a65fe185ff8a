// Reader of the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// header ({name: {dtype, shape, data_offsets}}, optional "__metadata__"), then the raw data.
// Files are memory-mapped and validated completely when opened, so a tensor view is always in
// bounds and of the stated size. SafetensorsModel reads a model directory, single-file
// (model.safetensors) or sharded (model.safetensors.index.json), and opens a shard only when one
// of its tensors is asked for, so loading one block never touches the others' files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/dtype.h"

namespace lowbit {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section, [begin, end)
  uint64_t end = 0;

  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

// A validated tensor inside a mapped file; valid while its SafetensorsFile lives.
struct TensorView {
  const TensorInfo* info = nullptr;
  const std::byte* data = nullptr;
  const std::string* file = nullptr;
};

class MappedFile;

class SafetensorsFile {
 public:
  explicit SafetensorsFile(std::string path);  // maps and validates; throws lowbit::Error
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  TensorView view(const std::string& name) const;  // throws naming the file if absent

 private:
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  const std::byte* data_ = nullptr;  // start of the data section
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsModel {
 public:
  explicit SafetensorsModel(std::string dir);
  ~SafetensorsModel();

  const std::string& dir() const { return dir_; }
  bool sharded() const { return !index_path_.empty(); }
  // Every tensor name of the model, sorted.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return file_of_.count(name) != 0; }
  // The file (full path) holding `name`; throws naming the index/file when absent.
  const std::string& file_of(const std::string& name) const;
  // Shape/dtype/offsets of `name` (opens its shard if needed).
  const TensorInfo& info(const std::string& name);
  TensorView view(const std::string& name);
  // Drops `name`'s pages from this process's memory once it has been copied out (they would
  // otherwise stay resident as mapped file pages); a later view() reads them again from disk.
  void release(const std::string& name);
  // The distinct files of the model, in order.
  std::vector<std::string> files() const;

 private:
  SafetensorsFile& open(const std::string& file);
  std::string where() const;  // the index or the single file, for messages

  std::string dir_;
  std::string index_path_;
  std::map<std::string, std::string> file_of_;  // tensor -> file path
  std::map<std::string, std::unique_ptr<SafetensorsFile>> open_;
};

}  // namespace lowbit
