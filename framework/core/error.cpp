#include "framework/core/error.h"

namespace lowbit::detail {

void throw_internal(const char* file, int line, const char* cond, const std::string& msg) {
  throw Error(concat("internal error (a bug in lowbit) at ", file, ":", line, ": ", cond,
                     msg.empty() ? "" : " — ", msg));
}

}  // namespace lowbit::detail
