// A compiled PCRE2 pattern (UTF + UCP, JIT when available) that finds successive matches.
// Used by the tokenizer's Split pre-tokenizer; std::regex has no \p{L} and RE2 no look-ahead.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit {

class Regex {
 public:
  // Throws lowbit::Error naming `origin` and PCRE2's message when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& origin);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Appends the [begin, end) byte spans of all non-overlapping matches in `subject`, scanning
  // left to right. `subject` must be valid UTF-8 (checked by the caller once, not per match).
  void find_all(std::string_view subject, std::vector<std::pair<std::size_t, std::size_t>>& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit
