#include "evaluation/json_fields.h"

#include <nlohmann/json.hpp>

#include <optional>

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
// The value is compared with [offset, offset + choices) before any arithmetic, so a label such as
// -9223372036854775808 or "99999999999999999999" is out of range rather than an overflow.
int64_t label(const nlohmann::json& doc, const char* name, int64_t offset, std::size_t choices, const std::string& where) {
  const nlohmann::json& f = field(doc, name, where);
  std::optional<uint64_t> u;  // the label, when it is non-negative and fits
  if (f.is_number_unsigned()) {
    u = f.get<uint64_t>();
  } else if (f.is_number_integer()) {
    if (f.get<int64_t>() >= 0) u = static_cast<uint64_t>(f.get<int64_t>());
  } else {
    LOWBIT_CHECK(f.is_string() && !f.get<std::string>().empty() &&
                     f.get<std::string>().find_first_not_of("0123456789") == std::string::npos,
                 where, ": field '", name, "' must be an integer label, got ", f.dump());
    const std::string& s = f.get_ref<const std::string&>();
    const std::size_t first = s.find_first_not_of('0');
    const std::string digits = first == std::string::npos ? "0" : s.substr(first);
    if (digits.size() <= 18) u = std::stoull(digits);  // 18 digits always fit
  }
  LOWBIT_CHECK(u && *u >= static_cast<uint64_t>(offset) && *u - static_cast<uint64_t>(offset) < choices, where,
               ": label '", name, "' = ", f.dump(), " is out of range for ", choices, " choices");
  return static_cast<int64_t>(*u - static_cast<uint64_t>(offset));
}

}  // namespace lowbit::jsonf
