// Where the tests find their data: set by CMake (see tests/CMakeLists.txt).
#pragma once

#include <cstdlib>
#include <string>

namespace lowbit::test {

// Directory the reference scripts write into (ctest runs them first as fixtures).
inline std::string reference_dir() { return LOWBIT_TEST_REFERENCE_DIR; }
// The real Llama 3 tokenizer of ../shared/fixtures.
inline std::string llama3_tokenizer() { return LOWBIT_TEST_LLAMA3_TOKENIZER; }

}  // namespace lowbit::test
