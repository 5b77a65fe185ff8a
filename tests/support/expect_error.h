// EXPECT_LOWBIT_ERROR(statement, {"fragment", ...}): the statement throws lowbit::Error and its
// message contains every fragment (the file, the field, the problem).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/core/error.h"

#define EXPECT_LOWBIT_ERROR(statement, ...)                                                       \
  do {                                                                                            \
    std::string lowbit_msg_;                                                                      \
    try {                                                                                         \
      statement;                                                                                  \
      ADD_FAILURE() << "expected lowbit::Error from: " #statement;                               \
    } catch (const ::lowbit::Error& e) {                                                          \
      lowbit_msg_ = e.what();                                                                     \
    }                                                                                             \
    for (const std::string& frag : std::vector<std::string> __VA_ARGS__)                          \
      EXPECT_NE(lowbit_msg_.find(frag), std::string::npos)                                        \
          << "message lacks '" << frag << "': " << lowbit_msg_;                                   \
  } while (0)
