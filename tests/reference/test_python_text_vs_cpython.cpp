// evaluation/python_text and the HellaSwag preprocess against CPython's own str methods and
// lm-eval's own preprocess function (make_text_cases.py): Latin, Greek, Cyrillic, special
// whitespace, emoji, brackets. Python mappings that change the length (ß -> SS) are refused by
// capitalize() rather than approximated. lower(), len(upper()), split(), float() (lmms-eval's
// scorers) and capitalize() on every code point Python case-maps (each also as a first character),
// every decimal digit and the final-sigma contexts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "evaluation/multiple_choice.h"
#include "evaluation/python_text.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

TEST(PythonTextVsCPython, EveryCaseMatches) {
  const std::string path = test::reference_dir() + "/text/cases.json";
  const nlohmann::json cases = parse_json_object(read_file(path), path).at("cases");
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    const std::string s = c["text"].get<std::string>();
    EXPECT_EQ(pytext::length(s), c["len"].get<int64_t>()) << s;
    EXPECT_EQ(pytext::strip(s), c["strip"].get<std::string>()) << s;
    EXPECT_EQ(pytext::rstrip(s), c["rstrip"].get<std::string>()) << s;
    EXPECT_EQ(hellaswag_preprocess(s), c["hellaswag"].get<std::string>()) << s;
    if (c["capitalize"].is_null()) {
      EXPECT_THROW(pytext::capitalize(s), Error) << s;
    } else {
      EXPECT_EQ(pytext::capitalize(s), c["capitalize"].get<std::string>()) << s;
    }
  }
}

TEST(PythonTextVsCPython, ScoringOperationsMatchOnEveryMappedCodePoint) {
  const std::string path = test::reference_dir() + "/text/cases.json";
  const nlohmann::json cases = parse_json_object(read_file(path), path).at("scoring");
  ASSERT_GE(cases.size(), 500u);
  int floats = 0;
  for (const auto& c : cases) {
    const std::string s = c["text"].get<std::string>();
    EXPECT_EQ(pytext::lower(s), c["lower"].get<std::string>()) << s;
    EXPECT_EQ(pytext::upper_length(s), c["upper_len"].get<int64_t>()) << s;
    EXPECT_EQ(pytext::split(s), c["split"].get<std::vector<std::string>>()) << s;
    if (c["capitalize"].is_null()) {
      EXPECT_THROW(pytext::capitalize(s), Error) << s;
    } else {
      EXPECT_EQ(pytext::capitalize(s), c["capitalize"].get<std::string>()) << s;
    }
    const std::optional<double> f = pytext::to_float(s);
    if (c["float"].is_null()) {
      EXPECT_FALSE(f.has_value()) << "float(\"" << s << "\") raises ValueError in Python, lowbit read " << *f;
    } else {
      ++floats;
      const double expected = std::strtod(c["float"].get<std::string>().c_str(), nullptr);
      ASSERT_TRUE(f.has_value()) << s;
      if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(*f)) << s;
      } else {
        EXPECT_EQ(*f, expected) << s;
        EXPECT_EQ(std::signbit(*f), std::signbit(expected)) << s;
      }
    }
  }
  EXPECT_GE(floats, 30);
}

}  // namespace
}  // namespace lowbit
