// The few Python `str` operations the evaluation harness's task formatters use, with Python's
// semantics on Unicode text, so prompts are byte-identical to lm-evaluation-harness's:
// len() in code points, strip(), capitalize().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lowbit::pytext {

// len(s): the number of code points (s must be valid UTF-8).
int64_t length(std::string_view s);

// s.strip(): removes leading and trailing Unicode whitespace (str.isspace()).
std::string strip(std::string_view s);

// s.rstrip(): removes trailing Unicode whitespace.
std::string rstrip(std::string_view s);

// s.capitalize(): the first character upper-cased, the rest lower-cased. Case mappings cover
// ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; a cased letter outside those ranges is an
// error rather than a silently different prompt.
std::string capitalize(std::string_view s);

// s.replace(old, new): every non-overlapping occurrence, left to right.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

}  // namespace lowbit::pytext
