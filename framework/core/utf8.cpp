#include "framework/core/utf8.h"

namespace lowbit::utf8 {

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {
// Number of bytes at s[i] that form a (possibly incomplete) prefix of a well-formed sequence, and
// the full length that sequence needs (Unicode Table 3-7). prefix == need means valid.
void scan(std::string_view s, std::size_t i, std::size_t& prefix, std::size_t& need) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char b0 = b(0);
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 < 0x80) { prefix = need = 1; return; }
  if (b0 >= 0xC2 && b0 <= 0xDF) need = 2;
  else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else { prefix = 0; need = 1; return; }
  prefix = 1;
  for (std::size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return;
    const unsigned char c = b(k);
    const bool ok = (k == 1) ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return;
    ++prefix;
  }
}
}  // namespace

std::size_t valid_sequence_length(std::string_view s, std::size_t i) {
  std::size_t prefix = 0, need = 0;
  scan(s, i, prefix, need);
  return prefix == need ? need : 0;
}

std::size_t first_invalid(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
    const std::size_t n = valid_sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t prefix = 0, need = 0;
    scan(bytes, i, prefix, need);
    if (prefix == need) {
      out.append(bytes.substr(i, need));
      i += need;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      i += prefix > 0 ? prefix : 1;
    }
  }
  return out;
}

}  // namespace lowbit::utf8
