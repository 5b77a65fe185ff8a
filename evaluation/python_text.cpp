#include "evaluation/python_text.h"

#include <vector>

#include "framework/core/error.h"
#include "framework/core/utf8.h"

namespace lowbit::pytext {
namespace {

std::vector<uint32_t> decode(std::string_view s) {
  std::vector<uint32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8::valid_sequence_length(s, i);
    LOWBIT_CHECK(n > 0, "invalid UTF-8 at byte ", i, " of a task text");
    const auto b = [&](std::size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i + k])); };
    uint32_t cp = n == 1 ? b(0) : n == 2 ? ((b(0) & 0x1F) << 6) | (b(1) & 0x3F)
                 : n == 3 ? ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F)
                          : ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string encode(const std::vector<uint32_t>& cps, std::size_t from = 0, std::size_t to = std::string::npos) {
  std::string out;
  for (std::size_t i = from; i < std::min(to, cps.size()); ++i) utf8::append(out, cps[i]);
  return out;
}

// Python's str.isspace(): Unicode White_Space plus the ASCII information separators.
bool is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Simple case mappings of the scripts task data uses; `known` is false for a letter of another script.
uint32_t to_lower(uint32_t c, bool& known) {
  known = true;
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0xDF && c <= 0xFF) return c;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) { known = false; return c; }  // İ -> i̇ in Python: two code points
    if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper) return (c % 2 == 1) ? c + 1 : c;
    if (c == 0x178) return 0xFF;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x3AC && c <= 0x3CE) return c;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x430 && c <= 0x45F) return c;
  if (c >= 0x80 && c < 0x100) return c;  // Latin-1 symbols
  // Outside the covered scripts: uncased symbols and punctuation are fine as they are.
  known = !(c >= 0x180 && c <= 0x24F) && !(c >= 0x1E00 && c <= 0x1FFF) && !(c >= 0x370 && c <= 0x52F);
  return c;
}

uint32_t to_upper(uint32_t c, bool& known) {
  known = true;
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c == 0xDF) { known = false; return c; }  // ß -> SS in Python: two characters
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x131) return 'I';
    if (c == 0x130 || c == 0x138 || c == 0x149 || c == 0x178) return c;
    if (c == 0x17F) return 'S';
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper) return (c % 2 == 0) ? c - 1 : c;
    return (c % 2 == 1) ? c - 1 : c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c;  // already upper case
  if (c >= 0x400 && c <= 0x42F) return c;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c >= 0x80 && c < 0x100) return c;
  known = !(c >= 0x180 && c <= 0x24F) && !(c >= 0x1E00 && c <= 0x1FFF) && !(c >= 0x370 && c <= 0x52F);
  return c;
}

}  // namespace

int64_t length(std::string_view s) { return static_cast<int64_t>(decode(s).size()); }

std::string strip(std::string_view s) {
  const std::vector<uint32_t> cps = decode(s);
  std::size_t a = 0, b = cps.size();
  while (a < b && is_space(cps[a])) ++a;
  while (b > a && is_space(cps[b - 1])) --b;
  return encode(cps, a, b);
}

std::string rstrip(std::string_view s) {
  const std::vector<uint32_t> cps = decode(s);
  std::size_t b = cps.size();
  while (b > 0 && is_space(cps[b - 1])) --b;
  return encode(cps, 0, b);
}

std::string capitalize(std::string_view s) {
  std::vector<uint32_t> cps = decode(s);
  for (std::size_t i = 0; i < cps.size(); ++i) {
    bool known = true;
    cps[i] = i == 0 ? to_upper(cps[i], known) : to_lower(cps[i], known);
    LOWBIT_CHECK(known, "capitalize(): no case mapping for code point ", cps[i], " in \"", std::string(s),
                 "\" (lowbit covers Latin, Greek and Cyrillic)");
  }
  return encode(cps);
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  LOWBIT_ASSERT(!from.empty(), "replace_all needs a non-empty pattern");
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(s.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(s.substr(pos));
  return out;
}

}  // namespace lowbit::pytext
