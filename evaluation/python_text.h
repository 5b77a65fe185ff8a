// The few Python `str` operations the evaluation harnesses' task formatters and scorers use, with
// Python's semantics on Unicode text, so prompts are byte-identical to lm-evaluation-harness's and
// scores identical to lmms-eval's: len() in code points, strip(), split(), lower(), len(upper()),
// capitalize(), float(). lower()/upper_length()/capitalize()/to_float() read CPython 3.11's Unicode 14 data
// (evaluation/unicode_tables.inc, written by evaluation/generate_unicode_tables.py).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::pytext {

// len(s): the number of code points (s must be valid UTF-8).
int64_t length(std::string_view s);

// list(s) as code points (s must be valid UTF-8).
std::vector<uint32_t> code_points(std::string_view s);

// "".join(map(chr, cps)).
std::string from_code_points(const std::vector<uint32_t>& cps);

// c.isspace() for one character: Unicode White_Space plus the ASCII information separators.
bool is_space(uint32_t c);

// s.strip(): removes leading and trailing Unicode whitespace (str.isspace()).
std::string strip(std::string_view s);

// s.rstrip(): removes trailing Unicode whitespace.
std::string rstrip(std::string_view s);

// s.capitalize(): the first character title-cased, the rest lower-cased, as CPython does it (every
// script). Where Python's result is longer than the text (ß, ŉ, ǰ ... first; İ later), an error
// rather than a silently different prompt.
std::string capitalize(std::string_view s);

// s.split(): the runs of non-whitespace, in order.
std::vector<std::string> split(std::string_view s);

// s.lower(): full lower-casing as CPython does it, with U+0130 (İ) becoming "i̇" and a capital
// sigma at the end of a word becoming the final form ς.
std::string lower(std::string_view s);

// len(s.upper()): upper-casing can lengthen a string (ß -> SS, ŉ -> ʼN).
int64_t upper_length(std::string_view s);

// float(s), or nullopt where Python raises ValueError: surrounding whitespace, underscores between
// digits, any Unicode decimal digit, inf/infinity/nan in any case; out-of-range values round to
// ±inf or 0 as Python's do.
std::optional<double> to_float(std::string_view s);

// s.replace(old, new): every non-overlapping occurrence, left to right.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

}  // namespace lowbit::pytext
