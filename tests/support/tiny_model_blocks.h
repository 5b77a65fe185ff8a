// The number of decoder blocks of the committed small model, from its config.json: tests must not
// assume one. (Its own header so that test_paths.h stays free of the JSON library.)
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "framework/core/files.h"
#include "tests/support/test_paths.h"

namespace lowbit::test {

inline int64_t tiny_model_blocks() {
  const std::string path = tiny_model_dir() + "/config.json";
  return parse_json_object(read_file(path), path).at("num_hidden_layers").get<int64_t>();
}

}  // namespace lowbit::test
