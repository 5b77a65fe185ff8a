// The packed exports (`--format gptq | awq | compressed-tensors`): a Hugging Face directory whose
// linears are packed integer codes in the format's layout (framework/export/packed_formats), read
// block by block from a run's shards (or from another packed checkpoint: a re-export), the other
// tensors in the checkpoint dtype, config.json with the format's quantization_config, the format's
// extra files, the tokenizer, a model card and lowbit_export.json.
#pragma once

#include <string>

#include "evaluation/eval_model.h"
#include "framework/export/export.h"

namespace lowbit {

// Writes into `dir` (which exists and is empty); refuses, before writing any tensor, a run whose
// first block the format cannot hold, and any later linear that differs, naming it.
void write_packed_export(const EvalTarget& target, const ExportOptions& options, const std::string& dir);

}  // namespace lowbit
