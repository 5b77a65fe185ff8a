#include "framework/model/byte_level.h"

#include <vector>

#include "framework/core/utf8.h"

namespace lowbit::byte_level {
namespace {

struct Alphabet {
  std::array<std::string, 256> char_of_byte;
  std::array<int, 0x144> byte_of_cp;  // code points used are < 0x144

  Alphabet() {
    byte_of_cp.fill(-1);
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next_extra = 0;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable(b) ? static_cast<uint32_t>(b) : 256u + next_extra++;
      utf8::append(char_of_byte[b], cp);
      byte_of_cp[cp] = b;
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

const std::string& char_of_byte(uint8_t b) { return alphabet().char_of_byte[b]; }

int byte_of_char(uint32_t cp) { return cp < alphabet().byte_of_cp.size() ? alphabet().byte_of_cp[cp] : -1; }

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += alphabet().char_of_byte[b];
  return out;
}

bool decode(std::string_view text, std::string& out) {
  std::string bytes;
  bytes.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c0 = static_cast<unsigned char>(text[i]);
    uint32_t cp;
    if (c0 < 0x80) {
      cp = c0;
      i += 1;
    } else if ((c0 & 0xE0) == 0xC0 && i + 1 < text.size()) {
      cp = ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return false;  // 3- and 4-byte characters are never in the alphabet
    }
    const int b = byte_of_char(cp);
    if (b < 0) return false;
    bytes.push_back(static_cast<char>(b));
  }
  out += bytes;
  return true;
}

}  // namespace lowbit::byte_level
