#include "evaluation/json_fields.h"

#include <nlohmann/json.hpp>

#include "framework/core/error.h"

namespace lowbit::jsonf {

const nlohmann::json& field(const nlohmann::json& doc, const char* name, const std::string& where) {
  LOWBIT_CHECK(doc.contains(name), where, ": missing field '", name, "'");
  return doc[name];
}

std::string text_field(const nlohmann::json& doc, const char* name, const std::string& where) {
  const nlohmann::json& f = field(doc, name, where);
  LOWBIT_CHECK(f.is_string(), where, ": field '", name, "' must be a string");
  return f.get<std::string>();
}

std::vector<std::string> text_list(const nlohmann::json& f, const std::string& name, const std::string& where) {
  LOWBIT_CHECK(f.is_array() && !f.empty(), where, ": field '", name, "' must be a non-empty list of strings");
  std::vector<std::string> out;
  for (const nlohmann::json& x : f) {
    LOWBIT_CHECK(x.is_string(), where, ": field '", name, "' must be a list of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

// An integer label, given as a number or a decimal string ("0", "2"), checked against the choices.
int64_t label(const nlohmann::json& doc, const char* name, int64_t offset, std::size_t choices, const std::string& where) {
  const nlohmann::json& f = field(doc, name, where);
  int64_t v = 0;
  if (f.is_number_integer()) {
    v = f.get<int64_t>();
  } else {
    LOWBIT_CHECK(f.is_string() && !f.get<std::string>().empty() &&
                     f.get<std::string>().find_first_not_of("0123456789") == std::string::npos,
                 where, ": field '", name, "' must be an integer label, got ", f.dump());
    v = std::stoll(f.get<std::string>());
  }
  v -= offset;
  LOWBIT_CHECK(v >= 0 && v < static_cast<int64_t>(choices), where, ": label '", name, "' = ", f.dump(),
               " is out of range for ", choices, " choices");
  return v;
}

}  // namespace lowbit::jsonf
