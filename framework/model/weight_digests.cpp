#include "framework/model/weight_digests.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/core/xxhash64.h"
#include "framework/model/fingerprint.h"
#include "framework/model/safetensors.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCacheName = ".lowbit-weight-digests.json";

struct FileStamp {
  int64_t size = 0, mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp(const std::string& path) {
  struct stat st {};
  LOWBIT_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot stat");
  return {static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// Where the cache may live: beside the model, else in the user's cache directory.
std::vector<std::string> cache_paths(const std::string& model_dir) {
  std::vector<std::string> out = {(fs::path(model_dir) / kCacheName).string()};
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const fs::path base = xdg && *xdg ? fs::path(xdg) : home && *home ? fs::path(home) / ".cache" : fs::path();
  if (!base.empty()) {
    Fnv1a key;
    key.add(fs::absolute(model_dir).lexically_normal().string());
    out.push_back((base / "lowbit" / "weight-digests" / (key.hex() + ".json")).string());
  }
  return out;
}

// The cached entries of `path` ({file: {size, mtime_ns, tensors}}); a cache that cannot be read or
// parsed is ignored (it is recomputed, never trusted half-way).
nlohmann::json read_cache(const std::string& path) {
  if (!fs::exists(path)) return nlohmann::json::object();
  try {
    nlohmann::json j = nlohmann::json::parse(read_file(path));
    if (j.is_object() && j.value("format", "") == "lowbit-weight-digests" && j.value("version", 0) == 1 &&
        j.contains("files") && j["files"].is_object())
      return j["files"];
  } catch (const std::exception&) {
  }
  return nlohmann::json::object();
}

bool write_cache(const std::string& path, const nlohmann::json& files) {
  try {
    fs::create_directories(fs::path(path).parent_path());
    write_file_atomic(path, nlohmann::json{{"format", "lowbit-weight-digests"}, {"version", 1}, {"files", files}}
                                    .dump(1) + "\n");
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

WeightDigests weight_digests(const std::string& model_dir) {
  SafetensorsModel model(model_dir);
  const std::vector<std::string> caches = cache_paths(model_dir);
  nlohmann::json cached = read_cache(caches[0]);
  for (std::size_t i = 1; i < caches.size() && cached.empty(); ++i) cached = read_cache(caches[i]);

  std::map<std::string, std::vector<std::string>> names_of;  // file name -> its tensors
  for (const std::string& name : model.names()) names_of[fs::path(model.file_of(name)).filename().string()].push_back(name);

  WeightDigests out;
  nlohmann::json files = nlohmann::json::object();
  bool computed = false;
  for (const auto& [file, names] : names_of) {
    const std::string path = (fs::path(model_dir) / file).string();
    const FileStamp st = stamp(path);
    const nlohmann::json* hit = nullptr;
    if (cached.contains(file)) {
      const nlohmann::json& e = cached[file];
      if (e.is_object() && e.value("size", int64_t{-1}) == st.size && e.value("mtime_ns", int64_t{-1}) == st.mtime_ns &&
          e.contains("tensors") && e["tensors"].is_object() && e["tensors"].size() == names.size())
        hit = &e;
    }
    nlohmann::json tensors = nlohmann::json::object();
    if (hit) {
      for (const std::string& name : names) {
        const auto it = (*hit)["tensors"].find(name);
        if (it == (*hit)["tensors"].end() || !it->is_string()) {
          hit = nullptr;
          break;
        }
        tensors[name] = *it;
      }
    }
    if (!hit) {
      if (st.size > (int64_t{1} << 30))
        std::printf("hashing the weights of %s (%.1f GB, once; cached by size and time)\n", path.c_str(), st.size / 1e9),
            std::fflush(stdout);
      tensors = nlohmann::json::object();
      for (const std::string& name : names) {
        const TensorView v = model.view(name);
        tensors[name] = xxhash64_hex(v.data, v.info->nbytes());
        model.release(name);  // the pages are not needed again
      }
      computed = true;
    }
    for (const auto& [name, digest] : tensors.items()) out[name] = digest.get<std::string>();
    files[file] = {{"size", st.size}, {"mtime_ns", st.mtime_ns}, {"tensors", tensors}};
  }
  if (computed) {
    bool saved = false;
    for (const std::string& c : caches)
      if ((saved = write_cache(c, files))) break;
    if (!saved) std::fprintf(stderr, "warning: cannot cache the weight digests of %s (read-only?)\n", model_dir.c_str());
  }
  return out;
}

std::string describe_weight_difference(const WeightDigests& expected, const WeightDigests& actual) {
  std::vector<std::string> diffs;
  for (const auto& [name, digest] : expected) {
    auto it = actual.find(name);
    if (it == actual.end()) diffs.push_back(fmt::format("'{}' is missing", name));
    else if (it->second != digest) diffs.push_back(fmt::format("'{}' has other values", name));
  }
  for (const auto& [name, digest] : actual)
    if (!expected.count(name)) diffs.push_back(fmt::format("'{}' is new", name));
  if (diffs.empty()) return "";
  std::string out;
  for (std::size_t i = 0; i < diffs.size() && i < 3; ++i) out += (i ? ", " : "") + diffs[i];
  if (diffs.size() > 3) out += fmt::format(" and {} more tensor{}", diffs.size() - 3, diffs.size() > 4 ? "s" : "");
  return "tensor " + out;
}

}  // namespace lowbit
