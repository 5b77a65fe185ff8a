#include "framework/core/units.h"

#include <fmt/format.h>

#include <cctype>
#include <utility>

#include "framework/core/error.h"

namespace lowbit {

uint64_t parse_bytes(const std::string& s, const std::string& what) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  LOWBIT_CHECK(i > 0 && s.find('.') == s.rfind('.'), what, ": expected a size like 80GiB or 40GB, got '", s, "'");
  const double v = std::stod(s.substr(0, i));
  const std::string unit = s.substr(i);
  const std::pair<const char*, double> units[] = {{"", 1},          {"B", 1},         {"KiB", 1024.0},
                                                  {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1099511627776.0},
                                                  {"KB", 1e3},      {"MB", 1e6},      {"GB", 1e9},
                                                  {"TB", 1e12}};
  for (const auto& [name, mult] : units)
    if (unit == name) return static_cast<uint64_t>(v * mult);
  LOWBIT_FAIL(what, ": unknown unit '", unit, "' in '", s, "' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return fmt::format("{:.2f} {}", b, units[u]);
}

}  // namespace lowbit
