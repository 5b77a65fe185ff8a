// Errors of lowbit: one exception type and two check macros.
//   LOWBIT_CHECK(cond, ...)  bad input from a user or a file: "expected X, got Y" with the file and field.
//   LOWBIT_ASSERT(cond, ...) a broken invariant inside lowbit (a bug): adds file:line.
// Both throw lowbit::Error; `main` catches it, prints it once and exits non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lowbit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
[[noreturn]] void throw_internal(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

}  // namespace lowbit

#define LOWBIT_CHECK(cond, ...)                                                   \
  do {                                                                            \
    if (!(cond)) throw ::lowbit::Error(::lowbit::detail::concat(__VA_ARGS__));    \
  } while (0)

#define LOWBIT_FAIL(...) throw ::lowbit::Error(::lowbit::detail::concat(__VA_ARGS__))

#define LOWBIT_ASSERT(cond, ...)                                                                  \
  do {                                                                                            \
    if (!(cond))                                                                                  \
      ::lowbit::detail::throw_internal(__FILE__, __LINE__, #cond,                                 \
                                       ::lowbit::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
