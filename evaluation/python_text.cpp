#include "evaluation/python_text.h"

#include <locale.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <limits>
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


struct CaseMapping {
  uint32_t cp;
  int32_t lower_delta, upper_delta, title_delta;
};
struct CodePointCount {
  uint32_t cp;
  int32_t count;
};
struct ClassRun {
  uint32_t first, last;
  int32_t cls;
};
#include "evaluation/unicode_tables.inc"

const CaseMapping* case_mapping(uint32_t c) {
  const auto* end = std::end(kCaseMappings);
  const auto* it = std::lower_bound(std::begin(kCaseMappings), end, c,
                                    [](const CaseMapping& m, uint32_t v) { return m.cp < v; });
  return it != end && it->cp == c ? it : nullptr;
}

// What CPython's final-sigma rule sees in a character: 1 case-ignorable, 2 cased, 0 neither.
int sigma_class(uint32_t c) {
  const auto* end = std::end(kSigmaClasses);
  const auto* it = std::upper_bound(std::begin(kSigmaClasses), end, c,
                                    [](uint32_t v, const ClassRun& r) { return v < r.first; });
  if (it == std::begin(kSigmaClasses)) return 0;
  --it;
  return c <= it->last ? it->cls : 0;
}

// The value of a decimal digit (category Nd), or -1.
int digit_value(uint32_t c) {
  const auto* end = std::end(kDigitZeros);
  const auto* it = std::upper_bound(std::begin(kDigitZeros), end, c);
  if (it == std::begin(kDigitZeros)) return -1;
  const uint32_t zero = *(it - 1);
  return c - zero < 10 ? static_cast<int>(c - zero) : -1;
}

// lower() of cps[i] in its string's context (CPython's lower_ucs4), appended to `out`.
void append_lower(std::string& out, const std::vector<uint32_t>& cps, std::size_t i);

// CPython's handle_capital_sigma(): Σ is final when, skipping case-ignorable characters, a cased
// one precedes it and none follows.
bool is_final_sigma(const std::vector<uint32_t>& cps, std::size_t i) {
  std::size_t j = i;
  int before = 0;
  while (j > 0) {
    before = sigma_class(cps[--j]);
    if (before != 1) break;
  }
  if (before != 2) return false;
  for (std::size_t k = i + 1; k < cps.size(); ++k) {
    const int after = sigma_class(cps[k]);
    if (after != 1) return after != 2;
  }
  return true;
}

void append_lower(std::string& out, const std::vector<uint32_t>& cps, std::size_t i) {
  const uint32_t c = cps[i];
  if (c == 0x130) {  // İ -> i + combining dot above (SpecialCasing.txt)
    utf8::append(out, 'i');
    utf8::append(out, 0x307);
  } else if (c == 0x3A3) {
    utf8::append(out, is_final_sigma(cps, i) ? 0x3C2 : 0x3C3);
  } else {
    const CaseMapping* m = case_mapping(c);
    utf8::append(out, m ? static_cast<uint32_t>(static_cast<int64_t>(c) + m->lower_delta) : c);
  }
}

}  // namespace

bool is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<uint32_t> code_points(std::string_view s) { return decode(s); }

std::string from_code_points(const std::vector<uint32_t>& cps) { return encode(cps); }

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
  // CPython's do_capitalize: the first character's full title case, then lower() of the rest in
  // the string's context (final sigma included).
  const std::vector<uint32_t> cps = decode(s);
  std::string out;
  if (cps.empty()) return out;
  const bool long_title = std::binary_search(std::begin(kMultiTitle), std::end(kMultiTitle), cps[0]);
  const bool long_lower = std::find(cps.begin() + 1, cps.end(), 0x130u) != cps.end();
  LOWBIT_CHECK(!long_title && !long_lower, "capitalize(): Python's result for \"", std::string(s),
               "\" is longer than the text (", long_title ? "the first character's title case" : "İ lower-cased",
               " is several characters); lowbit refuses it rather than approximate it");
  const CaseMapping* m = case_mapping(cps[0]);
  utf8::append(out, m ? static_cast<uint32_t>(static_cast<int64_t>(cps[0]) + m->title_delta) : cps[0]);
  for (std::size_t i = 1; i < cps.size(); ++i) append_lower(out, cps, i);
  return out;
}

std::vector<std::string> split(std::string_view s) {
  const std::vector<uint32_t> cps = decode(s);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < cps.size();) {
    while (i < cps.size() && is_space(cps[i])) ++i;
    const std::size_t start = i;
    while (i < cps.size() && !is_space(cps[i])) ++i;
    if (i > start) out.push_back(encode(cps, start, i));
  }
  return out;
}

std::string lower(std::string_view s) {
  const std::vector<uint32_t> cps = decode(s);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < cps.size(); ++i) append_lower(out, cps, i);
  return out;
}

int64_t upper_length(std::string_view s) {
  int64_t n = 0;
  for (uint32_t c : decode(s)) {
    const auto* end = std::end(kMultiUpper);
    const auto* it = std::lower_bound(std::begin(kMultiUpper), end, c,
                                      [](const CodePointCount& m, uint32_t v) { return m.cp < v; });
    n += it != end && it->cp == c ? it->count : 1;
  }
  return n;
}

std::optional<double> to_float(std::string_view s) {
  // CPython's PyFloat_FromString: non-ASCII whitespace becomes ' ', decimal digits their ASCII
  // digit, any other non-ASCII character makes the text invalid.
  std::string ascii;
  for (uint32_t c : decode(s)) {
    if (c < 0x80) {
      if (c == 0) return std::nullopt;
      ascii.push_back(static_cast<char>(c));
    } else if (is_space(c)) {
      ascii.push_back(' ');
    } else if (const int d = digit_value(c); d >= 0) {
      ascii.push_back(static_cast<char>('0' + d));
    } else {
      return std::nullopt;
    }
  }
  const auto ascii_space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  std::size_t a = 0, b = ascii.size();
  while (a < b && ascii_space(ascii[a])) ++a;
  while (b > a && ascii_space(ascii[b - 1])) --b;
  // Underscores only between digits (_Py_string_to_number_with_underscores), then removed.
  std::string t;
  char prev = '\0';
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  for (std::size_t i = a; i < b; ++i) {
    const char c = ascii[i];
    if (c == '_') {
      if (!digit(prev)) return std::nullopt;
    } else {
      if (prev == '_' && !digit(c)) return std::nullopt;
      t.push_back(c);
    }
    prev = c;
  }
  if (prev == '_' || t.empty()) return std::nullopt;
  // The grammar of _PyOS_ascii_strtod: [sign] (inf | infinity | nan) in any case, or
  // [sign] (digits [. [digits]] | . digits) [(e|E) [sign] digits]; nothing may follow.
  std::size_t i = 0;
  const bool negative = t[0] == '-';
  if (t[0] == '+' || t[0] == '-') ++i;
  std::string rest = t.substr(i);
  std::string folded = rest;
  for (char& c : folded) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  if (folded == "inf" || folded == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (folded == "nan") return negative ? -std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::quiet_NaN();
  std::size_t k = 0, mantissa_digits = 0;
  while (k < rest.size() && digit(rest[k])) ++k, ++mantissa_digits;
  if (k < rest.size() && rest[k] == '.') {
    ++k;
    while (k < rest.size() && digit(rest[k])) ++k, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (k < rest.size() && (rest[k] == 'e' || rest[k] == 'E')) {
    std::size_t e = k + 1;
    if (e < rest.size() && (rest[e] == '+' || rest[e] == '-')) ++e;
    const std::size_t exponent_start = e;
    while (e < rest.size() && digit(rest[e])) ++e;
    if (e == exponent_start) return std::nullopt;
    k = e;
  }
  if (k != rest.size()) return std::nullopt;
  // The text is now plain decimal: the C locale's strtod rounds it correctly, as Python's dtoa does,
  // and gives ±inf / 0 out of range.
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  const double magnitude = strtod_l(rest.c_str(), nullptr, c_locale);
  return negative ? -magnitude : magnitude;
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
