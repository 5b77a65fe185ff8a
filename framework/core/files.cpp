#include "framework/core/files.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"

namespace lowbit {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LOWBIT_CHECK(in.good(), path, ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  LOWBIT_CHECK(!in.bad(), path, ": read failed");
  return s.str();
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  // One temporary name per process: two processes writing the same file (ranks caching the same
  // digests) never write into each other's temporary; the last rename wins, each file whole.
  LOWBIT_CHECK(!std::filesystem::is_directory(path), path, ": is a directory (expected a file name)");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    LOWBIT_CHECK(out.good(), path, ": cannot create (does its directory exist and is it writable?)");
    try {
      write(out);
    } catch (...) {
      out.close();
      std::remove(tmp.c_str());
      throw;
    }
    out.flush();
    if (!out.good()) {
      out.close();
      std::remove(tmp.c_str());
      LOWBIT_FAIL(tmp, ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::remove(tmp.c_str());  // nothing of a failed write stays behind
  LOWBIT_CHECK(!ec, path, ": cannot rename ", tmp, " into place: ", ec.message());
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

nlohmann::json parse_json_object(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    LOWBIT_FAIL(origin, ": not valid JSON: ", e.what());
  }
  LOWBIT_CHECK(j.is_object(), origin, ": expected a JSON object, got ", j.type_name());
  return j;
}

}  // namespace lowbit
