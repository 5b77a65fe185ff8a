#include "framework/data/text_corpus.h"

#include <zlib.h>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Whole file, gunzipped when it ends in .gz.
std::string read_maybe_gzip(const std::string& path) {
  if (!ends_with(path, ".gz")) return read_file(path);
  gzFile f = gzopen(path.c_str(), "rb");
  LOWBIT_CHECK(f != nullptr, path, ": cannot open");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  int err = 0;
  const char* msg = gzerror(f, &err);
  const bool failed = n < 0 || (err != Z_OK && err != Z_STREAM_END);
  const std::string what = failed && msg ? msg : "";
  gzclose(f);
  LOWBIT_CHECK(!failed, path, ": not a valid gzip file (", what, ")");
  return out;
}

}  // namespace

void for_each_jsonl_object(const std::string& path,
                           const std::function<void(const nlohmann::json& object, int64_t line)>& fn) {
  const std::string text = read_maybe_gzip(path);
  std::size_t pos = 0;
  int64_t line = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string_view row(text.data() + pos, end - pos);
    pos = end + 1;
    if (row.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(row);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e999)
      LOWBIT_FAIL(path, ":", line, ": not valid JSON: ", e.what());
    }
    LOWBIT_CHECK(j.is_object(), path, ":", line, ": expected a JSON object");
    fn(j, line);
  }
}

std::vector<std::string> read_jsonl_field(const std::string& path, const std::string& field) {
  std::vector<std::string> out;
  for_each_jsonl_object(path, [&](const nlohmann::json& j, int64_t line) {
    LOWBIT_CHECK(j.contains(field) && j[field].is_string(), path, ":", line,
                 ": expected an object with a string field '", field, "'");
    out.push_back(j[field].get<std::string>());
  });
  return out;
}

std::vector<std::string> read_documents(const std::string& path, const std::string& separator) {
  if (ends_with(path, ".jsonl") || ends_with(path, ".json.gz") || ends_with(path, ".jsonl.gz")) return read_jsonl_field(path);
  LOWBIT_CHECK(!separator.empty(), path, ": documents need a non-empty separator");
  const std::string text = read_file(path);
  std::vector<std::string> docs;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = text.find(separator, pos);
    std::string d = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (!d.empty()) docs.push_back(std::move(d));
    if (end == std::string::npos) break;
    pos = end + separator.size();
  }
  return docs;
}

std::string read_corpus_text(const std::string& path, const std::string& separator) {
  if (ends_with(path, ".jsonl") || ends_with(path, ".json.gz") || ends_with(path, ".jsonl.gz")) {
    std::string joined;
    for (const std::string& t : read_jsonl_field(path)) joined += (joined.empty() ? "" : separator) + t;
    return joined;
  }
  return read_file(path);
}

}  // namespace lowbit
