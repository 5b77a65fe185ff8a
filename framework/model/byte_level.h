// The byte-level alphabet of GPT-2-style BPE: every byte 0..255 is shown as one printable Unicode
// character (printable Latin-1 bytes stand for themselves, the rest map to U+0100..U+0143), so a
// byte string becomes a text of exactly one character per byte.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace lowbit::byte_level {

// UTF-8 of the character that stands for byte b.
const std::string& char_of_byte(uint8_t b);
// The byte a code point stands for, or -1 if the code point is not in the alphabet.
int byte_of_char(uint32_t cp);
// Maps every byte of `bytes` to its character.
std::string encode(std::string_view bytes);
// Inverse of encode; false (and `out` untouched) if some character is not in the alphabet.
bool decode(std::string_view text, std::string& out);

}  // namespace lowbit::byte_level
