// UTF-8 helpers shared by the tokenizer and the text readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lowbit::utf8 {

// Appends the UTF-8 encoding of code point `cp` (must be a Unicode scalar value).
void append(std::string& out, uint32_t cp);

// Length of the valid UTF-8 sequence starting at s[i], or 0 if none starts there.
std::size_t valid_sequence_length(std::string_view s, std::size_t i);

// Byte offset of the first invalid sequence, or npos when `s` is valid UTF-8.
std::size_t first_invalid(std::string_view s);

// Decodes bytes as UTF-8, replacing each maximal invalid subpart by U+FFFD (the Unicode
// "substitution of maximal subparts" practice, as Rust's String::from_utf8_lossy does).
std::string lossy(std::string_view bytes);

}  // namespace lowbit::utf8
