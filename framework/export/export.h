// `lowbit export RUN_DIR --format F OUT_DIR`: a quantized run (or a fine-tuning output, adapters
// merged) written in a format other tools load. Formats are registered by name; each streams the
// model block by block (never the whole model in memory) into OUT_DIR.partial, renamed to OUT_DIR
// only when complete, and refuses an OUT_DIR that exists.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

struct ExportOptions {
  std::string format;          // "hf", ...
  std::string out_dir;
  std::string dtype;           // "" = the format's default (hf: the base model's dtype; packed: float16)
  uint64_t shard_bytes = 5'000'000'000;  // safetensors files of at most this many bytes (one tensor may exceed it)
  std::string model_override;  // the run's base model elsewhere than its manifest says
  std::string gptq_format;     // gptq: "" (v1 when symmetric, else v2) | "v1" | "v2"
};

// Every format name and a line about it, for --help and errors.
std::vector<std::pair<std::string, std::string>> export_formats();

void export_run(const std::string& target_path, const ExportOptions& options);

}  // namespace lowbit
