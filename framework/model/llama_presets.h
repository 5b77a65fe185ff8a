// The published LLaMA-3 architectures as data, by name (for `lowbit make-model` and planning).
#pragma once

#include <string>
#include <vector>

#include "framework/model/llama_config.h"

namespace lowbit {

// "llama3-8b", "llama3-70b"; throws naming the known presets for anything else.
LlamaConfig llama_preset(const std::string& name);
std::vector<std::string> llama_preset_names();

}  // namespace lowbit
