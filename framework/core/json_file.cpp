#include "framework/core/json_file.h"

#include <fstream>
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

nlohmann::json parse_json_object(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    LOWBIT_FAIL(origin, ": not valid JSON: ", e.what());
  }
  LOWBIT_CHECK(j.is_object(), origin, ": expected a JSON object, got ", j.type_name());
  return j;
}

}  // namespace lowbit
