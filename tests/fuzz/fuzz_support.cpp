// Linked into every fuzz target. A failing LOWBIT_ASSERT is a bug whatever the input, but it throws
// the same lowbit::Error type as a refusal; telling them apart by the message would let an input
// naming a file "internal error (a bug ...)" pass for one (the fuzzer found exactly that). So the
// targets replace lowbit::detail::throw_internal (framework/core/error.cpp, which then stays out of
// the link: it defines nothing else) with one that aborts, and the assert shows as a crash.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "framework/core/error.h"

namespace lowbit::detail {

void throw_internal(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "lowbit internal error (LOWBIT_ASSERT) at %s:%d: %s %s\n", file, line, cond, msg.c_str());
  std::abort();
}

}  // namespace lowbit::detail
