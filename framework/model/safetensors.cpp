#include "framework/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Read-only private mapping of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    LOWBIT_CHECK(fd >= 0, path, ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      LOWBIT_FAIL(path, ": cannot stat: ", std::strerror(err));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      int err = errno;
      ::close(fd);
      LOWBIT_CHECK(p != MAP_FAILED, path, ": cannot mmap: ", std::strerror(err));
      data_ = static_cast<const std::byte*>(p);
    } else {
      ::close(fd);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
  }
  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace {

// Largest byte count we accept for a shape (guards the numel*size product against overflow).
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 52;

TensorInfo parse_entry(const std::string& file, const std::string& name, const json& e,
                       uint64_t data_size) {
  const std::string where = file + ": tensor '" + name + "'";
  LOWBIT_CHECK(e.is_object(), where, ": expected an object with dtype/shape/data_offsets, got ",
               e.type_name());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    LOWBIT_CHECK(e.contains(key), where, ": missing field '", key, "'");
  TensorInfo t;
  t.name = name;

  const json& dt = e["dtype"];
  LOWBIT_CHECK(dt.is_string(), where, ": field 'dtype' must be a string, got ", dt.dump());
  auto parsed = dtype_from_name(dt.get<std::string>());
  LOWBIT_CHECK(parsed.has_value(), where, ": unknown dtype '", dt.get<std::string>(),
               "' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
  t.dtype = *parsed;

  const json& sh = e["shape"];
  LOWBIT_CHECK(sh.is_array(), where, ": field 'shape' must be an array, got ", sh.dump());
  uint64_t numel = 1;
  for (const json& d : sh) {
    LOWBIT_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where,
                 ": field 'shape' must hold non-negative integers, got ", sh.dump());
    uint64_t v = d.get<uint64_t>();
    LOWBIT_CHECK(v == 0 || numel <= kMaxTensorBytes / v, where, ": shape ", sh.dump(), " is too large");
    numel *= v;
    t.shape.push_back(static_cast<int64_t>(v));
  }
  LOWBIT_CHECK(numel <= kMaxTensorBytes / dtype_size(t.dtype), where, ": shape ", sh.dump(),
               " is too large");

  const json& off = e["data_offsets"];
  LOWBIT_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                   off[1].is_number_unsigned(),
               where, ": field 'data_offsets' must be [begin, end] of non-negative integers, got ",
               off.dump());
  t.begin = off[0].get<uint64_t>();
  t.end = off[1].get<uint64_t>();
  LOWBIT_CHECK(t.begin <= t.end, where, ": data_offsets [", t.begin, ", ", t.end,
               "] has begin after end");
  LOWBIT_CHECK(t.end <= data_size, where, ": data_offsets [", t.begin, ", ", t.end,
               "] run past the data section of ", data_size, " bytes (file truncated?)");
  const uint64_t expected = numel * dtype_size(t.dtype);
  LOWBIT_CHECK(t.nbytes() == expected, where, ": shape ", sh.dump(), " x ", dtype_name(t.dtype),
               " needs ", expected, " bytes, but data_offsets [", t.begin, ", ", t.end, "] hold ",
               t.nbytes());
  return t;
}

}  // namespace

SafetensorsFile::SafetensorsFile(std::string path) : path_(std::move(path)) {
  map_ = std::make_unique<MappedFile>(path_);
  const uint64_t size = map_->size();
  LOWBIT_CHECK(size >= 8, path_, ": file of ", size,
               " bytes is too short for a safetensors header (8-byte length + JSON)");
  uint64_t header_len = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(map_->data());
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | p[i];  // little endian
  LOWBIT_CHECK(header_len <= size - 8, path_, ": header length ", header_len,
               " runs past the end of the file (", size, " bytes)");
  LOWBIT_CHECK(header_len >= 2, path_, ": header length ", header_len, " is too short for JSON");

  const char* text = reinterpret_cast<const char*>(p + 8);
  json header;
  try {
    header = json::parse(text, text + header_len);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    LOWBIT_FAIL(path_, ": header is not valid JSON: ", e.what());
  }
  LOWBIT_CHECK(header.is_object(), path_, ": header must be a JSON object, got ", header.type_name());

  data_ = map_->data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      LOWBIT_CHECK(it->is_object(), path_, ": '__metadata__' must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        LOWBIT_CHECK(m->is_string(), path_, ": '__metadata__' field '", m.key(),
                     "' must be a string, got ", m->dump());
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    tensors_.emplace(it.key(), parse_entry(path_, it.key(), *it, data_size));
  }

  // No two non-empty tensors may share bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, t] : tensors_)
    if (t.nbytes() > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* a = by_offset[i - 1];
    const TensorInfo* b = by_offset[i];
    LOWBIT_CHECK(b->begin >= a->end, path_, ": tensor '", b->name, "' data_offsets [", b->begin, ", ",
                 b->end, "] overlap tensor '", a->name, "' [", a->begin, ", ", a->end, "]");
  }
}

SafetensorsFile::~SafetensorsFile() = default;

TensorView SafetensorsFile::view(const std::string& name) const {
  auto it = tensors_.find(name);
  LOWBIT_CHECK(it != tensors_.end(), path_, ": no tensor '", name, "'");
  return TensorView{&it->second, data_ + it->second.begin, &path_};
}

// ---------------------------------------------------------------------------------------------

SafetensorsModel::SafetensorsModel(std::string dir) : dir_(std::move(dir)) {
  const fs::path index = fs::path(dir_) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir_) / "model.safetensors";
  // The error_code forms: a name the system cannot stat (too long, no permission) is refused by
  // lowbit's checks below, not thrown as std::filesystem::filesystem_error.
  std::error_code ec;
  LOWBIT_CHECK(fs::is_directory(dir_, ec), dir_, ": not a directory");
  if (fs::exists(index, ec)) {
    index_path_ = index.string();
    json j = parse_json_object(read_file(index_path_), index_path_);
    LOWBIT_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), index_path_,
                 ": expected a 'weight_map' object");
    std::set<std::string> checked;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      LOWBIT_CHECK(it->is_string(), index_path_, ": weight_map entry '", it.key(),
                   "' must name a file, got ", it->dump());
      const std::string file = it->get<std::string>();
      LOWBIT_CHECK(!file.empty() && file.find('/') == std::string::npos && file.find('\0') == std::string::npos &&
                       file != "..",
                   index_path_,
                   ": weight_map entry '", it.key(), "' names '", file,
                   "', expected a file name in the model directory");
      const std::string full = (fs::path(dir_) / file).string();
      if (checked.insert(full).second)
        LOWBIT_CHECK(fs::is_regular_file(full, ec), index_path_, ": weight_map entry '", it.key(),
                     "' names '", file, "', which does not exist");
      file_of_[it.key()] = full;
    }
  } else {
    LOWBIT_CHECK(fs::exists(single, ec), dir_, ": no model.safetensors or model.safetensors.index.json");
    SafetensorsFile& f = open(single.string());
    for (const auto& [name, t] : f.tensors()) file_of_[name] = f.path();
  }
}

SafetensorsModel::~SafetensorsModel() = default;

std::string SafetensorsModel::where() const {
  return sharded() ? index_path_ : (fs::path(dir_) / "model.safetensors").string();
}

std::vector<std::string> SafetensorsModel::names() const {
  std::vector<std::string> out;
  out.reserve(file_of_.size());
  for (const auto& [name, file] : file_of_) out.push_back(name);
  return out;
}

std::vector<std::string> SafetensorsModel::files() const {
  std::set<std::string> s;
  for (const auto& [name, file] : file_of_) s.insert(file);
  return {s.begin(), s.end()};
}

const std::string& SafetensorsModel::file_of(const std::string& name) const {
  auto it = file_of_.find(name);
  LOWBIT_CHECK(it != file_of_.end(), where(), ": missing tensor '", name, "'");
  return it->second;
}

SafetensorsFile& SafetensorsModel::open(const std::string& file) {
  auto it = open_.find(file);
  if (it == open_.end()) it = open_.emplace(file, std::make_unique<SafetensorsFile>(file)).first;
  return *it->second;
}

const TensorInfo& SafetensorsModel::info(const std::string& name) { return *view(name).info; }

void SafetensorsModel::release(const std::string& name) {
  const TensorView v = view(name);
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(v.data);
  const uintptr_t first = (begin + page - 1) / page * page;  // whole pages inside the tensor only
  const uintptr_t last = (begin + v.info->nbytes()) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

TensorView SafetensorsModel::view(const std::string& name) {
  SafetensorsFile& f = open(file_of(name));
  LOWBIT_CHECK(f.contains(name), index_path_, ": weight_map puts tensor '", name, "' in ", f.path(),
               ", which does not contain it");
  return f.view(name);
}

}  // namespace lowbit
