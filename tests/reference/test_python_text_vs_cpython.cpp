// evaluation/python_text and the HellaSwag preprocess against CPython's own str methods and
// lm-eval's own preprocess function (make_text_cases.py): Latin, Greek, Cyrillic, special
// whitespace, emoji, brackets. Python mappings that change the length (ß -> SS) are refused by
// lowbit rather than approximated.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lowbit
