// A model named by a configs/models/*.yaml file (name, path to the Hugging Face directory,
// optional architecture preset, dtype) or given directly as a model directory / config.json.
// The architecture comes from PATH/config.json when it exists, else from the preset, so a model
// can be planned before it is downloaded.
#pragma once

#include <string>

#include "framework/model/llama_config.h"

namespace lowbit {

struct ModelRef {
  std::string name;
  std::string path;          // Hugging Face model directory ("" when unknown)
  std::string architecture;  // preset name ("" when none)
  std::string dtype = "bfloat16";
  LlamaConfig config;        // resolved architecture
  bool has_weights = false;  // PATH holds config.json

  // SPEC: a .yaml model file, a model directory, or a config.json.
  static ModelRef resolve(const std::string& spec);
};

}  // namespace lowbit
