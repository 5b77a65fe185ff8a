// Small value checks shared by the config readers; errors name the file and the key.
#pragma once

#include <cstdint>
#include <string>

#include "framework/core/error.h"

namespace lowbit {

inline void check_positive(int64_t value, const std::string& file, const char* key) {
  LOWBIT_CHECK(value > 0, file, ": key '", key, "' must be positive, got ", value);
}

}  // namespace lowbit
